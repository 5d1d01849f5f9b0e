// The package entry's runtime surface, agreed name by name (issue 19, "a small front door"): what
// an app integrating backups calls. Everything else has its own subpath (README §Package entries).
// Adding a name to `e2ee-backup` is a deliberate change: add it here, in the same commit, and say
// why an app needs it from the package entry. Types are not listed (they cost nothing at run time;
// etc/api/e2ee-backup.api.md records them).

/** The runtime exports of `e2ee-backup` (lib/index.ts), sorted. */
export const FRONT_DOOR: readonly string[] = [
  // the client facade and its factories
  'createBackupClient',
  'createVaultClient',
  'pinnedFleets',
  'RFC9807_DEFAULT_SUITE_ID', // the suite a pinned entry names for every new fleet
  'createIndexedDbStore',
  'createMemoryStore',
  // generated recovery codes (PINs and passwords: normalizePassword in e2ee-backup/keys)
  'generateRecoveryCode',
  'parseRecoveryCode',
  // errors
  'BackupError',
  'isBackupError',
].sort();
