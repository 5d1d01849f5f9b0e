// @vitest-environment jsdom
import 'fake-indexeddb/auto';
// An app's own test suite, written the way docs/TESTING.md tells an app to write it: only the
// public entries are used (`e2ee-backup` and `e2ee-backup/testing`, here by their source paths).
import { describe, expect, it } from 'vitest';
import { createIndexedDbStore, isBackupError } from '../../lib/index.js';
import { createTestFleet } from '../../lib/testing/index.js';
import { equalBytes } from '../../lib/util/bytes.js';

/** A small chat export an app would back up (not secret; deterministic). */
function chatExport(messages: number): Uint8Array<ArrayBuffer> {
  const lines = Array.from({ length: messages }, (_, i) => JSON.stringify({ chat: i % 3, at: 1_700_000_000 + i, text: `message ${i}` }));
  return new TextEncoder().encode(lines.join('\n'));
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    parts.push(r.value);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('an app tests its backup feature against e2ee-backup/testing', () => {
  it('enable → backup → restore on a new device, with random access', async () => {
    const fleet = await createTestFleet();
    const phone = fleet.createClient({ accountId: 'alice', storage: createIndexedDbStore({ dbName: 'phone' }) });
    const { recoveryCode } = await phone.enable();
    expect(typeof recoveryCode).toBe('string');

    const data = chatExport(400); // ~16 KB: several chunks and parts with the fleet's small sizes
    // Bytes, not a Blob: jsdom's Blob has no stream() (a browser's does, and the client takes it).
    const result = await phone.backup(data, { metadata: { chats: 3 } });
    expect(result.plaintextSize).toBe(data.length);

    // What the server holds is ciphertext: the plaintext's first line appears nowhere.
    const listed = await fleet.storage.list('');
    expect(listed.length).toBeGreaterThan(0);
    const needle = new TextDecoder().decode(data.subarray(0, 40));
    for (const entry of listed) expect(new TextDecoder().decode(await fleet.storage.get(entry.key))).not.toContain(needle);

    const laptop = fleet.createClient({ accountId: 'alice', storage: createIndexedDbStore({ dbName: 'laptop' }) });
    const restored = await laptop.restore({ recoveryCode: recoveryCode! });
    expect(restored.backupId).toBe(result.backupId);
    expect(restored.metadata).toEqual({ chats: 3 });
    expect(equalBytes(await restored.read(data.length - 100, 100), data.subarray(data.length - 100))).toBe(true);
    expect(equalBytes(await readAll(restored.stream), data)).toBe(true);
    phone.close();
    laptop.close();
  });

  it('a wrong recovery code reports the guesses left, then locks out', async () => {
    const fleet = await createTestFleet({ guessLimit: 2 });
    const phone = fleet.createClient({ accountId: 'bob' });
    const { recoveryCode } = await phone.enable();
    await phone.backup(chatExport(10));
    const other = fleet.createClient({ accountId: 'bob' });
    const wrong = (await fleet.createClient({ accountId: 'carol' }).enable()).recoveryCode!;
    expect(wrong).not.toBe(recoveryCode);

    const first = await other.restore({ recoveryCode: wrong }).catch((e: unknown) => e);
    expect(isBackupError(first, 'WRONG_CODE')).toBe(true);
    expect(isBackupError(first) && first.details.guessesRemaining).toBe(1);
    const second = await other.restore({ recoveryCode: wrong }).catch((e: unknown) => e);
    expect(isBackupError(second, 'LOCKED_OUT') || (isBackupError(second, 'WRONG_CODE') && second.details.guessesRemaining === 0)).toBe(true);
    const third = await other.restore({ recoveryCode: recoveryCode! }).catch((e: unknown) => e);
    expect(isBackupError(third, 'LOCKED_OUT')).toBe(true);
  });

  it('a flipped byte in storage is refused, never returned', async () => {
    const fleet = await createTestFleet();
    const phone = fleet.createClient({ accountId: 'dave' });
    const { recoveryCode } = await phone.enable();
    const data = chatExport(200);
    await phone.backup(data);
    const entries = await fleet.storage.list('');
    // The largest object is the archive (the others are the small sealed manifest and pointer).
    const archive = entries.reduce((a, b) => (b.size > a.size ? b : a));
    const bytes = Uint8Array.from(await fleet.storage.get(archive.key));
    bytes[bytes.length - 5]! ^= 1;
    await fleet.storage.put(archive.key, bytes);

    // The reader authenticates chunks as it reaches them (the last one at open): either opening or
    // reading must refuse with the one authentication error, and no plaintext is returned.
    const err = await fleet
      .createClient({ accountId: 'dave' })
      .restore({ recoveryCode: recoveryCode! })
      .then((restored) => readAll(restored.stream))
      .catch((e: unknown) => e);
    expect(isBackupError(err, 'ARCHIVE_AUTH_FAILED')).toBe(true);
  });

  it('the fleet pins the insecure test suite, whose id no production vault accepts', async () => {
    const fleet = await createTestFleet();
    const [pinned] = await fleet.trust.trustedFleets();
    expect(pinned?.suite).toBe('rfc9807/ristretto255-SHA512/identity-INSECURE');
  });
});
