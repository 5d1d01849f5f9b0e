/**
 * The opt-in seam of incremental backups: `createBackupClient({ incrementalSupport })` with this
 * loader is what lets a client write and read incremental snapshots. The package entry does not
 * reach lib/incremental at all (docs/SIZE.md): an app that never imports `e2ee-backup/incremental`
 * never downloads it, and one that does downloads the implementation only on first use (`import()`).
 *
 * @module
 */
import type { IncrementalLoader } from './client-hook.js';

/**
 * Pass as `createBackupClient({ incrementalSupport })`: loads the incremental implementation by
 * `import()` the first time a backup is incremental or a snapshot is opened, listed or pruned.
 */
export const incrementalSupport: IncrementalLoader = () => import('./repo.js');
