/**
 * The package's public surface as API reports (api-extractor), one per export of package.json:
 * etc/api/<entry>.api.md. `npm test` compares them with a fresh build (test/package/api-report.test.ts),
 * so a change to the surface shows up as a diff to commit, never by accident.
 *
 *   npx tsx scripts/api-report.ts           # check (exit 1 and a diff path when a report changed)
 *   npx tsx scripts/api-report.ts --update  # rewrite etc/api/*.api.md after a deliberate change
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel, type ExtractorMessage } from '@microsoft/api-extractor';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | { types: string }> };

/** Report name for an export subpath: `.` -> `e2ee-backup`, `./engines/libsodium` -> `e2ee-backup-engines-libsodium`. */
export const reportName = (sub: string): string => (sub === '.' ? 'e2ee-backup' : `e2ee-backup-${sub.slice(2).replace(/\//g, '-')}`);

export interface ReportResult {
  readonly entry: string;
  readonly changed: boolean;
  readonly errors: readonly string[];
  /**
   * Types the entry's declarations name but the entry does not export (api-extractor's
   * `ae-forgotten-export`): an app importing this entry cannot write them down without a second
   * import. test/package/api-report.test.ts holds the package entry to none beyond a listed few.
   */
  readonly forgotten: readonly string[];
}

/** Build declarations into a temp dir and run api-extractor on every entry. */
export function apiReports(update: boolean): ReportResult[] {
  const out = mkdtempSync(path.join(tmpdir(), 'e2ee-backup-api-'));
  try {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out, '--emitDeclarationOnly', '--declarationMap', 'false', '--sourceMap', 'false'], { cwd: root, stdio: 'pipe' });
    const temp = path.join(root, '.tmp', 'api');
    mkdirSync(temp, { recursive: true });
    const results: ReportResult[] = [];
    for (const [sub, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue; // ./package.json
      const entry = path.join(out, target.types.replace(/^\.\/dist\//, ''));
      const name = reportName(sub);
      const config = ExtractorConfig.prepare({
        configObject: {
          projectFolder: root,
          mainEntryPointFilePath: entry,
          compiler: { tsconfigFilePath: path.join(root, 'tsconfig.build.json'), skipLibCheck: true },
          apiReport: { enabled: true, reportFileName: `${name}.api.md`, reportFolder: path.join(root, 'etc', 'api'), reportTempFolder: temp },
          docModel: { enabled: false },
          dtsRollup: { enabled: false },
          tsdocMetadata: { enabled: false },
          messages: {
            compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
            extractorMessageReporting: {
              default: { logLevel: ExtractorLogLevel.None },
              'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None, addToApiReportFile: false },
              'ae-forgotten-export': { logLevel: ExtractorLogLevel.Warning, addToApiReportFile: false },
            },
            tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
          },
        },
        configObjectFullPath: path.join(root, 'api-extractor.json'),
        packageJsonFullPath: path.join(root, 'package.json'),
      });
      const errors: string[] = [];
      const forgotten = new Set<string>();
      const result = Extractor.invoke(config, {
        localBuild: update,
        showVerboseMessages: false,
        messageCallback: (m: ExtractorMessage) => {
          if (m.logLevel === 'error') errors.push(m.text);
          if (m.messageId === 'ae-forgotten-export') forgotten.add(/"([^"]+)"/.exec(m.text)?.[1] ?? m.text);
          m.handled = true;
        },
      });
      results.push({ entry: sub, changed: result.apiReportChanged, errors, forgotten: [...forgotten].sort() });
    }
    return results;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const update = process.argv.includes('--update');
  const results = apiReports(update);
  for (const r of results) console.log(`${r.entry}: ${r.changed ? (update ? 'updated' : 'CHANGED (see .tmp/api/)') : 'unchanged'}${r.errors.length ? ` ${r.errors.join('; ')}` : ''}`);
  if (!update && results.some((r) => r.changed || r.errors.length > 0)) process.exit(1);
}
