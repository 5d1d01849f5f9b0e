// Vault tokens: the app backend vouches for "this request acts for account X" with a short-lived
// HMAC token; the vault's verifyToken checks it. Any bearer scheme works (a JWT your auth server
// signs, say); the vault only needs token -> accountId.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function vaultTokens(secret: Uint8Array, ttlMs = 5 * 60_000, now = Date.now) {
  const mac = (body: string): string => createHmac('sha256', secret).update(body).digest('base64url');
  return {
    issue(accountId: string): string {
      const body = `${Buffer.from(accountId).toString('base64url')}.${now() + ttlMs}`;
      return `${body}.${mac(body)}`;
    },
    /** The account the token is for, or undefined (bad MAC, expired, malformed). */
    async verify(token: string): Promise<string | undefined> {
      const parts = token.split('.');
      if (parts.length !== 3) return undefined;
      const [account, expiry, tag] = parts as [string, string, string];
      const want = Buffer.from(mac(`${account}.${expiry}`));
      const got = Buffer.from(tag);
      if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
      if (!(Number(expiry) > now())) return undefined;
      return Buffer.from(account, 'base64url').toString();
    },
  };
}
