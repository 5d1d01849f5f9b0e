/**
 * A child process for test/server/file-store-processes.test.ts: opens the file vault store over a
 * shared directory and spends "guesses" on one key as fast as it can, the way the vault does (read
 * the counter, compare-and-swap it one lower; a successful swap is a spent guess and the KE2 that
 * may then leave). Each success is reported on stdout at once ("S"), so a parent that SIGKILLs this
 * process knows every swap it reported; "DONE <n>" ends a normal run.
 *
 * Run: node --import tsx test/server/file-store-child.ts <dir> <key>; it starts on "GO" on stdin.
 */
import { writeSync } from 'node:fs';
import { createFileVaultStore } from '../../lib/server/stores/file.js';
import { readU32BE, writeU32BE } from '../../lib/util/bytes.js';

async function main(): Promise<void> {
  const [dir, key] = process.argv.slice(2);
  if (!dir || !key) throw new Error('usage: file-store-child.ts <dir> <key>');
  const store = createFileVaultStore({ dir });
  writeSync(1, `READY ${process.pid}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.on('data', (d: Buffer) => {
      if (d.toString().includes('GO')) resolve();
    });
  });
  let spent = 0;
  for (;;) {
    const cur = await store.get(key);
    if (cur === undefined) throw new Error('counter missing');
    const left = readU32BE(cur.value, 0);
    if (left === 0) break;
    const next = new Uint8Array(4);
    writeU32BE(next, 0, left - 1);
    if (await store.compareAndSwap(key, cur.version, next)) {
      spent++;
      writeSync(1, 'S\n');
    }
  }
  writeSync(1, `DONE ${spent}\n`);
  await store.close?.();
  process.exit(0);
}

main().catch((e: unknown) => {
  writeSync(2, `file-store-child failed: ${String(e)}\n`);
  process.exit(1);
});
