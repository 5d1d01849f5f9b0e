// The public surface is deliberate: every export of package.json has an API report in etc/api/
// (api-extractor 7), and a build whose surface differs fails here. After an intended change, run
// `npm run api:report` and commit the changed etc/api/*.api.md with the change (the diff is the
// review of the surface).
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { apiReports, type ReportResult } from '../../scripts/api-report.js';

/**
 * Types the package entry's declarations name without exporting, each with the entry that does:
 * they belong to an opt-in an app imports anyway to use the option that names them.
 */
const NAMED_FROM_OPT_INS: Readonly<Record<string, string>> = {
  DeviceCacheSupport: 'e2ee-backup/keys', // BackupClientOptions.deviceCache
  IncrementalLoader: 'e2ee-backup/incremental', // BackupClientOptions.incrementalSupport
  PasskeySupport: 'e2ee-backup/passkeys', // BackupClientOptions.passkeys
  PasskeyInfo: 'e2ee-backup/passkeys', // BackupClient.listPasskeys and kin, which need passkeys
};

/** Entries whose every named type is exported (the front door and its capability subpaths). */
const SELF_CONTAINED = ['./stores', './trust', './archive', './keys', './protocol'];

let results: ReportResult[];

it('the API reports in etc/api/ match the build', () => {
  results = apiReports(false);
  expect(results.length).toBeGreaterThanOrEqual(8);
  const changed = results.filter((r) => r.changed).map((r) => `${r.entry} (compare etc/api with .tmp/api; npm run api:report to accept)`);
  expect(changed).toEqual([]);
  expect(results.flatMap((r) => r.errors)).toEqual([]);
}, 300_000);

it('the package entry and the capability subpaths export every type their functions name', () => {
  const forgotten = (entry: string): readonly string[] => results.find((r) => r.entry === entry)?.forgotten ?? ['(no report)'];
  // An app annotates what it gets from `e2ee-backup` without reaching into another entry.
  expect(forgotten('.')).toEqual(Object.keys(NAMED_FROM_OPT_INS).sort());
  for (const entry of SELF_CONTAINED) expect(forgotten(entry), entry).toEqual([]);
});

it('every type a public declaration names is exported by some entry', () => {
  // An entry may name a type another entry exports (the server entry names `BlobStore` from
  // `e2ee-backup`), but never one no entry exports: an app could not write it down at all.
  const reports = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../etc/api');
  const exported = new Set<string>();
  for (const f of readdirSync(reports)) {
    for (const m of readFileSync(path.join(reports, f), 'utf8').matchAll(/^export (?:declare )?(?:abstract )?(?:interface|type|function|const|class|enum|namespace) (\w+)/gm)) exported.add(m[1]!);
  }
  expect(exported.size).toBeGreaterThan(100);
  const unreachable = results.flatMap((r) => r.forgotten.filter((n) => !exported.has(n)).map((n) => `${n} (named by ${r.entry})`));
  expect(unreachable).toEqual([]);
});
