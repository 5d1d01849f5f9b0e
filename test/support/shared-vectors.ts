// Vectors from outside the project (Wycheproof), carried in the repository under test/vectors/
// with their origin, commit and license (test/vectors/README.md). Tests read nothing outside the
// repository: a fresh clone anywhere runs the whole suite.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const vectorsDir = new URL('../vectors/', import.meta.url);

/** Absolute path of a file under test/vectors (e.g. `sharedVector('wycheproof', 'ed25519_test.json')`). */
export function sharedVector(...parts: string[]): string {
  const p = fileURLToPath(new URL(parts.map(encodeURIComponent).join('/'), vectorsDir));
  if (!existsSync(p)) throw new Error(`vector test/vectors/${parts.join('/')} is not in the repository`);
  return p;
}
