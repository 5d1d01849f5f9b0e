// Where the project's outside vectors live: `../shared/vectors` beside the checkout (CI lays a copy
// of shared/ beside its clone), falling back to /work/shared/vectors.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Absolute path of a file under shared/vectors. */
export function sharedVector(...parts: string[]): string {
  const candidates = [
    process.env.SHARED_VECTORS,
    join(repoRoot, '..', 'shared', 'vectors'),
    '/work/shared/vectors',
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const dir of candidates) {
    const p = join(dir, ...parts);
    if (existsSync(p)) return p;
  }
  throw new Error(`shared vector ${parts.join('/')} not found in ${candidates.join(', ')}`);
}
