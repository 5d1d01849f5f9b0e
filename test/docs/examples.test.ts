// The code examples developers copy type-check against the real source: the ```ts blocks of
// README.md and docs/*.md and the TSDoc `@example` blocks of lib/ (typedoc shows them). An example
// that calls a method, passes an option or destructures a field that does not exist fails here,
// naming the file, the example and the compiler's error. How examples are checked: examples.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkExamples, collectExamples, formatError, libFiles, type CheckResult, type Example } from './examples.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Markdown ```ts blocks that are not code an app writes, so not checked: signature sketches with
 * `?`-marked parameters, elided types and comments in place of values (compared with lib/ by hand
 * when listed). Each entry names the file and the start of the block's first line; an entry that
 * matches no block fails the test.
 */
const NOT_APP_CODE: readonly { readonly file: string; readonly firstLine: string }[] = [
  { file: 'docs/KEYRING.md', firstLine: 'interface KeyGeneration {' }, // the keyring's shape, sizes as comments
  { file: 'docs/PROTOCOL.md', firstLine: 'createVaultClient(options: {' }, // the vault client's API summary
  { file: 'docs/PROTOCOL.md', firstLine: 'generateVaultSetup(suite?)' }, // the server API summary
  { file: 'docs/STORAGE.md', firstLine: 'interface BlobStore {' }, // the BlobStore contract, parameters elided
  { file: 'docs/STORAGE.md', firstLine: 'type PresignFn =' }, // the presign operations, field types elided
];

/**
 * Source files whose examples are not checked (none today). An entry is a stopgap for a file whose
 * examples cannot be fixed at once; remove it as soon as they pass (its tests show as skipped).
 */
const SKIPPED_FILES: readonly string[] = [];

/**
 * The app's own functions that examples call without declaring them (`toast(…)`,
 * `showGuessesLeft(…)`). Any other undeclared function an example calls fails the test: it would
 * otherwise be taken for a free `any`, hiding a call to an SDK function renamed or removed since.
 */
const APP_FUNCTIONS: ReadonlySet<string> = new Set([
  'backup', // keyring.ts: back up under a key generation
  'decrypt', // keyring.ts: use a key
  'fetchProof', // trust-store.ts: the app's consistency-proof fetcher
  'importChats', // client.ts: the app's chat import
  'rangedGet', // random-access.ts: the app's range reader
  'readAt', // format.ts: the app's range reader
  'readFileSync', // etcd.ts: node:fs
  'refuse', // ed25519.ts, merkle.ts: the app's rejection path
  'seal', // keyring.ts: the app's own sealing
  'send', // keyring.ts
  'show', // restore.ts: progress display
  'showCheckYourCode', // code.ts
  'showGuessesLeft', // client.ts, errors.ts
  'showLockedOut', // client.ts
  'showLockout', // errors.ts
  'showOnce', // code.ts, self-custody.ts
  'splitView', // merkle.ts: the app's split-view report
  'storeEscrow', // keyring.ts
  'toast', // client.ts
  'uploadEverything', // lock.ts
]);

const notAppCode = (e: Example): boolean => NOT_APP_CODE.some((s) => s.file === e.file && e.code.trimStart().startsWith(s.firstLine));

const all = collectExamples(root);
const examples = all.filter((e) => !notAppCode(e) && !SKIPPED_FILES.includes(e.file));

/**
 * Broken examples checked in the same Program, to show the check still catches drift: each must
 * fail with `expected` (a TS error code) at its line, and nothing else.
 */
const CANARIES: readonly (Example & { readonly expected: number })[] = [
  // A method that does not exist, on a free variable typed by KNOWN_RECEIVERS.
  { id: 'canary:method', file: 'lib/client.ts', line: 1, kind: 'tsdoc', code: 'await client.enabled();', expected: 2551 },
  // A misspelled SDK name is not taken for a free variable.
  { id: 'canary:typo', file: 'lib/client.ts', line: 1, kind: 'tsdoc', code: "const c = createBackupClinet({ accountId: 'a', vault, store, storage: kv });", expected: 2552 },
  // A call to an SDK function that does not exist (renamed, removed) is not taken for an app function.
  { id: 'canary:call', file: 'lib/client.ts', line: 1, kind: 'tsdoc', code: 'const key = getBackupKey(keyring);', expected: 2304 },
  // A wrong argument to an export the TSDoc example gets without importing it.
  { id: 'canary:argument', file: 'lib/client.ts', line: 1, kind: 'tsdoc', code: "keyForId(keyring, 'ab');", expected: 2345 },
  // An unknown option of a real SDK call; `user` is free (any), not an error.
  {
    id: 'canary:option',
    file: 'README.md',
    line: 1,
    kind: 'markdown',
    code: "import { createIndexedDbStore } from 'e2ee-backup';\n\nconst store = createIndexedDbStore({ databaseName: user.id });",
    expected: 2353,
  },
  // A markdown block that uses an SDK export without importing it.
  { id: 'canary:import', file: 'README.md', line: 1, kind: 'markdown', code: 'const s = createMemoryStore();', expected: 2304 },
];

let result: CheckResult;

beforeAll(() => {
  result = checkExamples(root, [...examples, ...CANARIES], { appFunctions: APP_FUNCTIONS });
});

describe('code examples in README.md, docs/ and TSDoc', () => {
  it('finds them all', () => {
    expect(all.filter((e) => e.kind === 'markdown').length).toBeGreaterThanOrEqual(10);
    // Every `@example` tag holds a ```ts block (or it would not be checked).
    for (const file of libFiles(root)) {
      const tags = readFileSync(path.join(root, file), 'utf8').match(/^\s*\*\s*@example\b/gm)?.length ?? 0;
      expect(all.filter((e) => e.kind === 'tsdoc' && e.file === file).length, `@example blocks with a \`\`\`ts fence in ${file}`).toBe(tags);
    }
    expect(all.filter((e) => e.kind === 'tsdoc').length).toBeGreaterThanOrEqual(150);
    for (const s of NOT_APP_CODE) {
      expect(all.some((e) => e.file === s.file && e.code.trimStart().startsWith(s.firstLine)), `NOT_APP_CODE entry ${s.file}: ${s.firstLine}`).toBe(true);
    }
    for (const file of SKIPPED_FILES) expect(all.some((e) => e.file === file), `SKIPPED_FILES entry ${file}`).toBe(true);
    const free = new Set([...result.free.values()].flatMap((names) => [...names]));
    expect([...APP_FUNCTIONS].filter((f) => !free.has(f)), 'APP_FUNCTIONS no example uses').toEqual([]);
    expect(result.global).toEqual([]);
  });

  it('catches a broken example (canaries)', () => {
    for (const canary of CANARIES) {
      const errors = result.errors.filter((e) => e.example === canary);
      expect(errors.map((e) => `${e.code} at line ${e.line}`), `${canary.id}: ${errors.map(formatError).join('; ')}`).toEqual([
        `${canary.expected} at line ${canary.code.split('\n').length}`,
      ]);
    }
  });

  it.for(all.filter((e) => !notAppCode(e)).map((e) => [e.id, e] as const))('%s type-checks', ([, example], ctx) => {
    if (SKIPPED_FILES.includes(example.file)) ctx.skip();
    const errors = result.errors.filter((e) => e.example === example);
    if (errors.length > 0) {
      throw new Error(`${errors.length} type error(s) in the example at ${example.id}:\n${errors.map(formatError).join('\n')}`);
    }
  });
});
