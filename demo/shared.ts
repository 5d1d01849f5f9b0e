// Shared by the page and the fleet: kept apart so the page loads the fleet module only when it
// must run it in-page (static build).

/** What `GET /api/app/config` answers: the roots an app ships in its build. */
export interface DemoConfig {
  readonly namespace: string;
  readonly logOrigin: string;
  readonly witness: { readonly name: string; readonly publicKey: string; readonly notBefore: number };
  readonly operator: { readonly publicKey: string; readonly notBefore: number };
  readonly suite: string;
  readonly guessLimit: number;
  /** Where the fleet runs: on the dev server, or inside this page (static build). */
  readonly mode: 'server' | 'browser';
  /** Blob store part rules the client must follow. */
  readonly minPartSize: number;
}

/** The key prefix an account's blobs live under (the fake backend authorizes exactly this). */
export const accountPrefix = (accountId: string): string => `users/${encodeURIComponent(accountId)}/`;

