// The page: enable, back up a (generated) chat export, restore it with the recovery code.
import { isBackupError } from 'e2ee-backup';
import { createBackups, type BackupApi } from './backups.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const user = new URLSearchParams(location.search).get('user') ?? 'alice';
$('user').textContent = user;

// The app's own backend calls; the stand-in sign-in sends the user in a header (server/main.ts).
async function post<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'x-example-user': user, 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}
const api: BackupApi = {
  vaultToken: async () => (await post<{ token: string }>('/api/vault-token')).token,
  presign: async (op) => (await post<{ url: string }>('/api/presign', op)).url,
};

const backups = createBackups(user, api);
const { client } = backups;
window.addEventListener('pagehide', () => backups.close());

/** A chat export of `size` bytes (deterministic, so a restore can be compared). */
function chatExport(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const line = new TextEncoder().encode('{"chat":7,"from":"bob","text":"see you at eight"}\n');
  for (let i = 0; i < size; i++) out[i] = line[i % line.length]! ^ (Math.floor(i / line.length) & 0x0f);
  return out;
}
const hex = (b: ArrayBuffer): string => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
const sha256 = async (b: Uint8Array): Promise<string> => hex(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>));

function show(e: unknown): void {
  $('error').textContent = isBackupError(e) ? `${e.code}: ${e.message}` : String(e);
}

async function refresh(): Promise<void> {
  const s = await client.status();
  $('status').textContent = `vault: ${s.vault.state}${s.unlocked ? ', unlocked' : ''}`;
}

$('enable').onclick = async () => {
  try {
    const { recoveryCode } = await client.enable();
    $('code').textContent = recoveryCode ?? '';
    await refresh();
  } catch (e) {
    show(e);
  }
};

$('backup').onclick = async () => {
  try {
    const size = Number(new URLSearchParams(location.search).get('size') ?? 3_000_000);
    const data = chatExport(size);
    const bar = $<HTMLProgressElement>('progress');
    const steps: number[] = [];
    const result = await client.backup(data, {
      metadata: { chats: 1 },
      onProgress: ({ bytes, total }) => {
        bar.value = total === undefined ? 0 : bytes / total;
        steps.push(bar.value);
      },
    });
    $('backup-result').textContent = `backed up ${result.plaintextSize} bytes in ${steps.length} steps, sha256 ${await sha256(data)}`;
    $('backup-result').dataset.steps = JSON.stringify(steps);
  } catch (e) {
    show(e);
  }
};

$('restore').onclick = async () => {
  try {
    const code = $<HTMLInputElement>('restore-code').value.trim();
    const restored = await client.restore(code === '' ? {} : { recoveryCode: code });
    const bytes = new Uint8Array(await new Response(restored.stream).arrayBuffer());
    restored.close();
    $('restore-result').textContent = `restored ${bytes.length} bytes, sha256 ${await sha256(bytes)}`;
  } catch (e) {
    show(e);
  }
};

void refresh().catch(show);
