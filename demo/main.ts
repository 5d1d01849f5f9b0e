// The demo's page: each section of index.html is one step of the story (README §Demo).
import { generateRecoveryCode, isBackupError, parseRecoveryCode, type BackupClient, type KeyValueStore, type RestoredBackup } from '../lib/index.js';
import { migrateFleet, planMigration, type TrustStore, type WitnessLogClient } from '../lib/trust.js';
import { decodeSignedBundle, logEntry, verifySignedBundle } from '../lib/trust/bundle.js';
import { parseCheckpoint } from '../lib/trust/checkpoint.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../lib/trust/merkle.js';
import { incrementalSupport } from '../lib/incremental/index.js';
import { toHex, wipe } from '../lib/util/bytes.js';
import { archiveStream, planArchive, readIndex, readLastMessages, SIZES, type ArchivePlan, type ReadAt } from './archive.js';
import { accountPrefix } from './shared.js';
import { connectApi, deviceStore, findFleet, login, makeClient, makeTrust, operator, passkeyBlocker, trustRoots, vaultFor, type Api } from './sdk.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing`);
  return el as T;
};

const fmtBytes = (n: number): string => {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
};
const short = (b: Uint8Array | string): string => {
  const h = typeof b === 'string' ? b : toHex(b);
  return h.length > 20 ? `${h.slice(0, 12)}…${h.slice(-8)}` : h;
};

/** A user-facing sentence for any failure. */
function describe(e: unknown): string {
  if (isBackupError(e)) {
    switch (e.code) {
      case 'WRONG_CODE':
        return `Wrong recovery code. ${e.details.guessesRemaining ?? '?'} guesses left before the vault erases this backup's key.`;
      case 'LOCKED_OUT':
        return 'Locked out: too many wrong codes. The vault erased the key escrow, so this backup can never be restored.';
      case 'ARCHIVE_AUTH_FAILED':
        return 'Restore refused: the backup failed authentication, so it was modified in storage. Nothing from it was used.';
      case 'RECOVERY_CODE_INVALID':
        return `That is not a recovery code (${e.message}).`;
      case 'NOT_ENROLLED':
        return 'Backups are not turned on for this account.';
      case 'ALREADY_ENROLLED':
        return 'Backups are already on for this account (restore with its code, or change it).';
      case 'ABORTED':
        return 'Cancelled.';
      case 'PASSKEY_PRF_UNSUPPORTED':
        return 'This browser/authenticator cannot protect backups with a passkey (no WebAuthn PRF); your recovery code still works.';
      case 'PASSKEY_CANCELLED':
        return 'The passkey prompt was cancelled. Nothing changed; try again, or use your recovery code.';
      case 'PASSKEY_AUTH_FAILED':
        return 'That passkey did not open this backup (its PRF output changed). Use another passkey or your recovery code.';
      case 'PASSKEY_NOT_FOUND':
        return 'No passkey protects this backup yet: restore with the recovery code, then protect it with a passkey.';
      default:
        return `${e.code}: ${e.message}`;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// State

let api: Api;
let store: KeyValueStore;
let trust: TrustStore;
let witnessLog: WitnessLogClient;
let accountId = 'alice';
let token = '';
let fleetId = '';
let client: BackupClient | undefined;
let plan: ArchivePlan | undefined;
let backupAbort: AbortController | undefined;

const status = (text: string) => {
  $('status').textContent = text;
};

/**
 * Run an action with errors shown in `out`. While it runs its button is aria-disabled and ignores
 * presses (not `disabled`, which would throw keyboard focus back to the top of the page).
 */
function action(button: HTMLButtonElement | HTMLFormElement, out: HTMLElement, fn: () => Promise<void>): void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    const btn = button instanceof HTMLFormElement ? button.querySelector('button') : button;
    btn?.setAttribute('aria-disabled', 'true');
    try {
      await fn();
    } catch (e) {
      out.textContent = describe(e);
      out.classList.add('bad');
      status(describe(e));
    } finally {
      btn?.removeAttribute('aria-disabled');
      running = false;
    }
  };
  if (button instanceof HTMLFormElement) {
    button.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void run();
    });
  } else button.addEventListener('click', () => void run());
}

const say = (out: HTMLElement, text: string, ok = true) => {
  out.textContent = text;
  out.classList.toggle('bad', !ok);
  out.classList.toggle('ok', ok);
  status(text);
};

async function refreshStatus(): Promise<void> {
  $('fleet-id').textContent = fleetId;
  if (client === undefined) return;
  const s = await client.status();
  const v = s.vault;
  $('vault-state').textContent =
    v.state === 'enrolled'
      ? `enrolled, ${v.guessesRemaining} of ${v.guessLimit} guesses left`
      : v.state === 'locked-out'
        ? 'locked out (escrow erased)'
        : 'not enrolled';
  $('vault-state').dataset.state = v.state;
  $('device-state').textContent = [
    s.unlocked ? 'keyring unlocked' : 'no keyring in memory',
    s.deviceCached ? 'device cache holds the keyring' : 'no device cache',
    s.uploadPending ? 'an interrupted upload can resume' : '',
    s.fleetTrusted === false ? 'fleet NOT trusted' : '',
  ]
    .filter((x) => x.length > 0)
    .join(' · ');
}

/** Sign in (fake app login), learn trust from the witness log, find the account's fleet. */
async function signIn(id: string): Promise<void> {
  client?.close();
  client = undefined;
  accountId = id;
  token = await login(api, accountId);
  await trust.refresh();
  const found = await findFleet(api, trust, accountId, token);
  fleetId = found.fleetId;
  client = makeClient(api, trust, store, fleetId, accountId, token);
  $('account').setAttribute('value', accountId);
  document.body.dataset.account = accountId;
  await refreshStatus();
  await refreshPasskeys();
  status(`Signed in as ${accountId}; escrow at fleet ${fleetId}.`);
}

// ---------------------------------------------------------------------------------------------
// 1. archive

function setupArchive(): void {
  const select = $<HTMLSelectElement>('archive-size');
  for (const s of SIZES) select.add(new Option(s.label, s.id, s.id === '1m', s.id === '1m'));
  action($<HTMLButtonElement>('generate'), $('archive-summary'), async () => {
    plan = planArchive({ sizeId: select.value, media: $<HTMLInputElement>('archive-media').checked, seed: (Math.random() * 2 ** 32) >>> 0, now: Date.now() });
    const newest = plan.index.conversations[0]!;
    const out = $('archive-summary');
    out.dataset.bytes = String(plan.totalBytes);
    out.dataset.conversations = String(plan.index.conversations.length);
    say(
      out,
      `${plan.index.conversations.length} conversations, ${plan.messageCount} messages, ${plan.mediaCount} media files: ${fmtBytes(plan.totalBytes)}` +
        `${plan.mediaForced ? ' (media added: text alone stays small)' : ''}. Newest chat: “${newest.title}”, ${new Date(newest.lastAt).toLocaleString()}.`,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// 2. enable

function offerCode(code: string, el: HTMLElement): void {
  el.textContent = code;
}

function setupEnable(): void {
  action($<HTMLButtonElement>('enable'), $('enable-status'), async () => {
    if (client === undefined) throw new Error('sign in first');
    const { recoveryCode } = await client.enable();
    if (recoveryCode === undefined) throw new Error('no code was generated');
    offerCode(recoveryCode, $('recovery-code'));
    $('code-box').hidden = false;
    say($('enable-status'), `Backups are on. The backup key is escrowed at ${fleetId}; the server never saw the code.`);
    await refreshStatus();
  });
  $('copy-code').addEventListener('click', () => {
    const code = $('recovery-code').textContent ?? '';
    navigator.clipboard.writeText(code).then(
      () => say($('enable-status'), 'Copied to the clipboard.'),
      () => say($('enable-status'), 'The clipboard is not available here: select the code and copy it.', false),
    );
  });
  $('download-code').addEventListener('click', () => {
    const code = $('recovery-code').textContent ?? '';
    const url = URL.createObjectURL(new Blob([`e2ee-backup recovery code for ${accountId}\n\n${code}\n`], { type: 'text/plain' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `recovery-code-${accountId}.txt`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
}

// ---------------------------------------------------------------------------------------------
// 2b. passkeys

/** The passkeys that open this account's backup, each with a Remove button (no prompt needed). */
async function refreshPasskeys(): Promise<void> {
  const list = $<HTMLUListElement>('passkey-list');
  list.replaceChildren();
  if (client === undefined) return;
  const c = client;
  const passkeys = await c.listPasskeys().catch(() => []);
  list.dataset.count = String(passkeys.length);
  for (const p of passkeys) {
    const li = document.createElement('li');
    li.setAttribute('data-testid', 'passkey-item');
    li.dataset.id = p.id;
    li.append(`${p.name}, added ${new Date(p.createdAt).toLocaleString()} `);
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-label', `Remove passkey ${p.name}`);
    action(remove, $('passkey-status'), async () => {
      await c.removePasskey(p.id);
      say($('passkey-status'), `Removed the passkey “${p.name}”: it no longer opens this backup.`);
      await refreshPasskeys();
    });
    li.append(remove);
    list.append(li);
  }
}

function setupPasskeys(): void {
  const blocker = passkeyBlocker();
  $('passkey-note').textContent = blocker ?? 'Your browser asks for a passkey on this device, a security key, or your phone (QR code).';
  action($<HTMLButtonElement>('protect-passkey'), $('passkey-status'), async () => {
    if (client === undefined) throw new Error('sign in first');
    if (blocker !== undefined) throw new Error(blocker);
    const out = $('passkey-status');
    out.dataset.state = 'running';
    try {
      const p = await client.addPasskey({ name: `Passkey ${new Date().toLocaleDateString()}`, userName: accountId });
      out.dataset.state = 'added';
      say(out, `Protected with a passkey (“${p.name}”). On a new device, “Restore with a passkey” needs no code.`);
    } catch (e) {
      out.dataset.state = isBackupError(e) ? e.code : 'failed';
      throw e;
    }
    await refreshPasskeys();
  });
}

// ---------------------------------------------------------------------------------------------
// 3. backup

function setupBackup(): void {
  const cancel = $<HTMLButtonElement>('cancel-backup');
  const bar = $<HTMLProgressElement>('backup-progress');
  const out = $('backup-status');
  cancel.addEventListener('click', () => backupAbort?.abort(new DOMException('cancelled by the user', 'AbortError')));
  action($<HTMLButtonElement>('backup'), out, async () => {
    if (client === undefined) throw new Error('sign in first');
    if (plan === undefined) throw new Error('generate an archive first (step 1)');
    const p = plan;
    backupAbort = new AbortController();
    cancel.disabled = false;
    bar.value = 0;
    out.dataset.state = 'running';
    say(out, `Encrypting and uploading ${fmtBytes(p.totalBytes)}…`);
    const started = performance.now();
    try {
      const r = await client.backup(archiveStream(p), {
        signal: backupAbort.signal,
        version: p.version,
        metadata: { app: 'demo-chats', conversations: p.index.conversations.length, messages: p.messageCount },
        onProgress: (pr) => {
          bar.value = Math.min(1, pr.bytes / (pr.total ?? p.totalBytes));
          out.dataset.bytes = String(pr.bytes);
        },
      });
      bar.value = 1;
      const secs = (performance.now() - started) / 1000;
      // The demo's storage is memory: keep only the newest backup.
      await client.pruneBackups({ keep: 1 });
      out.dataset.state = 'done';
      say(
        out,
        `Backed up ${fmtBytes(r.plaintextSize)} as ${fmtBytes(r.archiveSize)} of ciphertext in ${secs.toFixed(1)} s${r.resumed ? ' (resumed an interrupted upload)' : ''}. Backup ${short(r.backupId)}.`,
      );
    } catch (e) {
      if (isBackupError(e, 'ABORTED')) {
        out.dataset.state = 'cancelled';
        say(out, 'Backup cancelled. Nothing usable was published; the next backup of the same archive resumes where this one stopped.', false);
        return;
      }
      out.dataset.state = 'failed';
      throw e;
    } finally {
      cancel.disabled = true;
      backupAbort = undefined;
      await refreshStatus().catch(() => undefined);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// 3b. incremental backups

/** `n` bytes of made-up chat lines, time-ordered from `t`. */
function chatLines(n: number, t: number, seed: number): Uint8Array {
  const words = 'ok yes lol thanks see you tomorrow where are you call me later photo sent dinner tonight sure'.split(' ');
  const enc = new TextEncoder();
  const out = new Uint8Array(n);
  let s = seed;
  let o = 0;
  while (o < n) {
    s = (s * 1103515245 + 12345) >>> 0;
    t += s % 90;
    const line = enc.encode(`${t}\tuser${s % 37}\t${words[s % words.length]} ${words[(s >>> 8) % words.length]} ${words[(s >>> 16) % words.length]}\n`);
    out.set(line.subarray(0, n - o), o);
    o += line.length;
  }
  return out;
}

function setupIncremental(): void {
  const out = $('incremental-status');
  action($<HTMLButtonElement>('incremental'), out, async () => {
    if (client === undefined) throw new Error('sign in and enable backups first');
    // A second client on the same account and keyring (from the device cache), storing under its own sub-prefix.
    const inc = makeClient(api, trust, store, fleetId, accountId, token, { incremental: true, incrementalSupport, keyPrefix: `${accountPrefix(accountId)}incremental/` });
    const day1 = chatLines(8 * 1024 * 1024, 1_700_000_000, 7);
    say(out, `Backing up ${fmtBytes(day1.length)} of chats incrementally…`);
    const first = await inc.backup(day1);
    const more = chatLines(80 * 1024, 1_700_000_000 + 8_000_000, 8);
    const day2 = new Uint8Array(day1.length + more.length);
    day2.set(day1);
    day2.set(more, day1.length);
    const second = await inc.backup(day2);
    await inc.pruneBackups({ keep: 1 });
    out.dataset.state = 'done';
    out.dataset.sent = String(second.archiveSize);
    say(
      out,
      `First backup: ${fmtBytes(first.plaintextSize)}, sent ${fmtBytes(first.archiveSize)}. Then ${fmtBytes(more.length)} of new messages: ` +
        `the second backup of ${fmtBytes(second.plaintextSize)} sent ${fmtBytes(second.archiveSize)} ` +
        `(${((100 * second.archiveSize) / second.plaintextSize).toFixed(2)}% of the export; ${fmtBytes(second.skippedBytes ?? 0)} already stored were skipped).`,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// 4. new device + restore

/** Clear every object store of every IndexedDB database of this origin (connections stay usable). */
async function clearIndexedDb(): Promise<string[]> {
  const dbs = await indexedDB.databases();
  const cleared: string[] = [];
  for (const { name } of dbs) {
    if (name === undefined) continue;
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(name);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const names = [...db.objectStoreNames];
    if (names.length > 0) {
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction(names, 'readwrite');
        for (const n of names) tx.objectStore(n).clear();
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
    }
    db.close();
    cleared.push(name);
  }
  return cleared;
}

function renderChats(list: HTMLOListElement, entries: { title: string; lastAt: number; id: string; messages: number; last: { from: string; text: string; at: number; media?: { name: string; size: number } }[] }[]): void {
  list.replaceChildren();
  for (const c of entries) {
    const li = document.createElement('li');
    li.setAttribute('data-testid', 'chat-item');
    li.dataset.conversationId = c.id;
    li.dataset.lastAt = String(c.lastAt);
    const title = document.createElement('span');
    title.className = 'title';
    title.textContent = c.title;
    const time = document.createElement('time');
    time.dateTime = new Date(c.lastAt).toISOString();
    time.textContent = `${new Date(c.lastAt).toLocaleString()} · ${c.messages} messages`;
    li.append(title, time);
    for (const m of c.last) {
      const p = document.createElement('p');
      p.className = 'msg';
      const from = document.createElement('span');
      from.className = 'from';
      from.textContent = `${m.from}: `;
      p.append(from, m.media ? `📎 ${m.media.name} (${fmtBytes(m.media.size)}) ${m.text}` : m.text);
      li.append(p);
    }
    list.append(li);
  }
}

function setupRestore(): void {
  const out = $('restore-status');
  const err = $('restore-error');
  const list = $<HTMLOListElement>('chat-list');
  const bar = $<HTMLProgressElement>('restore-progress');
  const note = $('random-access-note');

  action($<HTMLButtonElement>('new-device'), out, async () => {
    client?.close();
    client = undefined;
    const cleared = await clearIndexedDb();
    // Fresh objects over the now-empty storage: nothing from "the old device" survives in memory.
    store = deviceStore();
    ({ trust, log: witnessLog } = makeTrust(api, store));
    list.replaceChildren();
    note.textContent = '';
    err.textContent = '';
    bar.value = 0;
    await signIn(accountId);
    say(out, `This is a new device: cleared IndexedDB (${cleared.join(', ') || 'nothing stored yet'}). No keys here; restore with the recovery code.`);
  });

  /** Restore with `open` (a recovery code or a passkey), show the newest chats, verify it all. */
  const restoreWith = async (open: (c: BackupClient) => Promise<RestoredBackup>, unlocking: string): Promise<void> => {
    if (client === undefined) throw new Error('sign in first');
    const c = client;
    err.textContent = '';
    list.replaceChildren();
    note.textContent = '';
    bar.value = 0;
    out.dataset.state = 'running';
    delete list.dataset.plaintextSize;
    say(out, unlocking);
    try {
      api.resetDownloadCounter();
      const restored = await open(c);
      try {
        const size = restored.plaintextSize;
        let plainRead = 0;
        const readAt: ReadAt = async (offset, length) => {
          plainRead += length;
          return restored.read(offset, length);
        };
        say(out, 'Key recovered. Reading the archive index and the newest chats by random access…');
        const index = await readIndex(readAt, size);
        const shown = index.conversations.slice(0, 8);
        const withMessages = [];
        for (const c of shown) withMessages.push({ ...c, last: await readLastMessages(readAt, c, 3) });
        const rest = index.conversations.slice(8, 40).map((c) => ({ ...c, last: [] }));
        renderChats(list, [...withMessages, ...rest]);
        const downloaded = api.blobBytesDownloaded();
        list.dataset.plaintextSize = String(size);
        list.dataset.downloadedAtDisplay = String(downloaded);
        note.textContent =
          `${index.conversations.length} chats, newest first. Shown after reading ${fmtBytes(plainRead)} of ${fmtBytes(size)} by random access ` +
          `(${fmtBytes(downloaded)} of ciphertext downloaded so far, every chunk authenticated). Now verifying the whole archive…`;
        // The full pass: every chunk authenticated, the end of the archive proven.
        const reader = restored.stream.getReader();
        let n = 0;
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          n += r.value.length;
          bar.value = n / size;
        }
        bar.value = 1;
        out.dataset.state = 'verified';
        const meta = restored.metadata;
        const what = typeof meta.messages === 'number' ? `, ${String(meta.conversations)} chats and ${meta.messages} messages per its encrypted metadata` : '';
        say(out, `Restored and verified: all ${fmtBytes(size)} authenticated (backup ${short(restored.backupId)} of ${new Date(restored.createdAt).toLocaleString()}${what}).`);
      } finally {
        restored.close();
      }
    } catch (e) {
      // A refused archive shows nothing from it.
      if (isBackupError(e, 'ARCHIVE_AUTH_FAILED')) {
        list.replaceChildren();
        note.textContent = '';
      }
      out.dataset.state = isBackupError(e) ? e.code : 'failed';
      out.textContent = '';
      await refreshStatus().catch(() => undefined);
      throw e;
    }
    await refreshStatus();
  };

  action($<HTMLFormElement>('restore-form'), err, async () => {
    const code = $<HTMLInputElement>('restore-code').value;
    await restoreWith((c) => c.restore({ recoveryCode: code }), 'Recovering the backup key from the vault (OPAQUE)…');
  });
  action($<HTMLButtonElement>('restore-passkey'), err, async () => {
    const blocker = passkeyBlocker();
    if (blocker !== undefined) throw new Error(blocker);
    await restoreWith(async (c) => {
      // One prompt: the passkey's PRF output opens its envelope (and rotates its salt).
      const p = await c.unlockWithPasskey();
      say(out, `Unlocked with the passkey “${p.name}”. Reading the backup…`);
      return c.restore();
    }, 'Asking for a passkey…');
    await refreshPasskeys();
  });
}

// ---------------------------------------------------------------------------------------------
// 5. change code

function setupChange(): void {
  action($<HTMLFormElement>('change-form'), $('change-status'), async () => {
    if (client === undefined) throw new Error('sign in first');
    const oldCode = $<HTMLInputElement>('old-code').value;
    const newCode = generateRecoveryCode();
    await client.changeRecoveryCode({ oldCode, newCode });
    offerCode(newCode, $('new-code'));
    $('new-code-box').hidden = false;
    say($('change-status'), 'Recovery code changed. Same backup key, same backups; only the new code unlocks them now.');
    await refreshStatus();
  });
}

// ---------------------------------------------------------------------------------------------
// 6. fleet rotation

function dl(rows: [string, string | Node][]): HTMLDListElement {
  const d = document.createElement('dl');
  d.className = 'details';
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.append(v);
    d.append(dt, dd);
  }
  return d;
}

function check(ok: boolean, text: string, testid: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = ok ? 'ok' : 'bad';
  s.dataset.ok = String(ok);
  s.setAttribute('data-testid', testid);
  s.textContent = `${ok ? '✓' : '✗'} ${text}`;
  return s;
}

function proofList(hashes: readonly Uint8Array[]): HTMLElement {
  const p = document.createElement('div');
  p.className = 'proof';
  p.textContent = hashes.length === 0 ? '(empty proof)' : hashes.map((h) => short(h)).join('  ');
  return p;
}

function setupFleet(): void {
  action($<HTMLButtonElement>('operator-rotate'), $('operator-status'), async () => {
    const r = await operator.rotate(api);
    say($('operator-status'), `Published bundle epoch ${r.epoch}: new fleet ${r.fleetId} (key ${short(r.publicKey)}) takes enrollments; older fleets are recover-only. Audit log size ${r.logSize}.`);
  });

  action($<HTMLButtonElement>('check-fleet'), $('bundle-details'), async () => {
    const box = $('bundle-details');
    box.replaceChildren();
    const before = await trust.state();
    const bytes = await witnessLog.fetchBundle();
    if (bytes === undefined) throw new Error('the witness log has no bundle');
    const sb = decodeSignedBundle(bytes);
    // Verified here for display; the trust store verifies again (and checks rollback) on apply.
    const verified = verifySignedBundle(bytes, trustRoots(api.config), Date.now());
    const b = verified.bundle;
    const cp = parseCheckpoint(sb.checkpoint);
    const inclusionOk = verifyInclusion(leafHash(logEntry(sb.bundle)), sb.leafIndex, cp.size, sb.inclusionProof, cp.root);
    const rows: [string, string | Node][] = [
      ['Bundle', `epoch ${b.epoch} (this device had ${before.epoch}), namespace ${b.namespace}`],
      ['Fleets', b.fleets.map((f) => `${f.fleetId} [${f.roles.join(', ')}] key ${short(f.publicKey)}`).join(' · ')],
    ];
    for (const w of sb.witnessSignatures) {
      const el = document.createElement('span');
      el.append(check(true, `witness ${api.config.witness.name} (${short(w.publicKey)}) signed at ${new Date(w.timestamp * 1000).toLocaleString()}: ${short(w.signature)}`, 'sig-witness'));
      rows.push(['Witness signature', el]);
    }
    for (const o of sb.operatorSignatures) rows.push(['Operator countersignature', check(true, `operator ${short(o.publicKey)}: ${short(o.signature)}`, 'sig-operator')]);
    const inc = document.createElement('div');
    inc.append(check(inclusionOk, `bundle is leaf ${sb.leafIndex} of the audit log (size ${cp.size}, root ${short(cp.root)})`, 'inclusion-proof'), proofList(sb.inclusionProof));
    rows.push(['Inclusion proof (RFC 9162)', inc]);
    let consistencyProof: readonly Uint8Array[] | undefined;
    const cons = document.createElement('div');
    if (before.checkpoint !== undefined && before.checkpoint.size < cp.size) {
      consistencyProof = await witnessLog.fetchConsistencyProof(before.checkpoint.size, cp.size);
      const ok = verifyConsistency(before.checkpoint.size, cp.size, consistencyProof, before.checkpoint.root, cp.root);
      cons.append(check(ok, `the log of size ${cp.size} extends the log of size ${before.checkpoint.size} this device saw (no fork, no rewrite)`, 'consistency-proof'), proofList(consistencyProof));
    } else {
      cons.append(before.checkpoint === undefined ? 'no earlier checkpoint on this device' : `same log size ${cp.size} as last seen`);
    }
    rows.push(['Consistency proof', cons]);
    box.append(dl(rows));

    if (b.epoch > before.epoch) {
      await trust.applyBundle(bytes, consistencyProof === undefined ? {} : { consistencyProof });
    }
    const planned = await planMigration(trust, fleetId, api.config.suite);
    const p = document.createElement('p');
    p.setAttribute('data-testid', 'migration-plan');
    p.textContent = planned
      ? `Applied. Your escrow is at ${planned.from}, which is now recover-only: migrate it to ${planned.to} (your recovery code is needed).`
      : `Applied. Your escrow at ${fleetId} is current: nothing to migrate.`;
    box.append(p);
    status(p.textContent);
  });

  action($<HTMLFormElement>('migrate-form'), $('migrate-status'), async () => {
    const planned = await planMigration(trust, fleetId, api.config.suite);
    if (planned === undefined) {
      say($('migrate-status'), `Nothing to migrate: ${fleetId} is current.`);
      return;
    }
    const password = parseRecoveryCode($<HTMLInputElement>('migrate-code').value);
    try {
      const r = await migrateFleet({
        from: vaultFor(api, trust, planned.from, accountId, token),
        to: vaultFor(api, trust, planned.to, accountId, token),
        accountId,
        password,
        store,
      });
      client?.close();
      fleetId = r.to;
      client = makeClient(api, trust, store, fleetId, accountId, token);
      say($('migrate-status'), `Migrated: the same backup key is now escrowed at ${r.to} (verified against the bundle), and the record at ${r.from} was deleted. Backups are unchanged.`);
      $('migrate-status').dataset.fleet = r.to;
      await refreshStatus();
    } finally {
      wipe(password);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// 7. tamper

function setupTamper(): void {
  action($<HTMLButtonElement>('operator-tamper'), $('tamper-status'), async () => {
    const r = await operator.tamper(api, accountId);
    say($('tamper-status'), `Flipped one bit at byte ${r.offset} of ${r.key} (${fmtBytes(r.size)}). Now restore: it must refuse.`);
  });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  api = await connectApi((text) => {
    $('mode-note').textContent = text;
  });
  if (api.config.mode === 'server') {
    $('mode-note').textContent = `Fleet running on the dev server (${location.host}). OPAQUE suite ${api.config.suite}; ${api.config.guessLimit} guesses before lockout.`;
  } else {
    $('mode-note').textContent += ` OPAQUE suite ${api.config.suite}; ${api.config.guessLimit} guesses before lockout.`;
  }
  store = deviceStore();
  ({ trust, log: witnessLog } = makeTrust(api, store));
  setupArchive();
  setupEnable();
  setupPasskeys();
  setupBackup();
  setupIncremental();
  setupRestore();
  setupChange();
  setupFleet();
  setupTamper();
  action($<HTMLFormElement>('account-form'), $('account-status'), async () => {
    const id = $<HTMLInputElement>('account').value.trim();
    await signIn(id);
    say($('account-status'), `Signed in as ${accountId}.`);
    // A different user on the same page: forget the previous user's screens.
    for (const el of ['passkey-status', 'recovery-code', 'new-code', 'restore-status', 'restore-error', 'random-access-note', 'backup-status', 'migrate-status', 'tamper-status', 'change-status', 'enable-status']) {
      $(el).textContent = '';
    }
    $('code-box').hidden = true;
    $('new-code-box').hidden = true;
    $('chat-list').replaceChildren();
  });
  await signIn($<HTMLInputElement>('account').value.trim());
  document.body.dataset.ready = 'true';
}

main().catch((e: unknown) => {
  $('status').setAttribute('role', 'alert');
  status(`The demo failed to start: ${describe(e)}`);
  document.body.dataset.ready = 'error';
});
