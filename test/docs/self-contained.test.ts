// A fresh clone anywhere runs the suite: tests, benches and their support read nothing outside the
// repository (outside vectors are carried in test/vectors/ with their origin and license).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === 'vectors' || name === 'node_modules' ? [] : sources(p);
    return /\.(c|m)?[tj]s$/.test(name) ? [p] : [];
  });
}

describe('the test suite is self-contained', () => {
  it('names no path outside the checkout for its data', () => {
    const offenders: string[] = [];
    for (const file of [...sources(path.join(root, 'test')), path.join(root, 'vitest.config.ts')]) {
      const text = readFileSync(file, 'utf8');
      // The project's former vector locations: a directory beside the clone, or a machine path.
      for (const pattern of [/\/work\//, /\.\.\/shared\//, /SHARED_VECTORS/]) {
        if (pattern.test(text) && !file.endsWith('self-contained.test.ts')) offenders.push(`${path.relative(root, file)}: ${pattern.source}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('carries every outside vector with its origin and license', () => {
    const readme = readFileSync(path.join(root, 'test/vectors/README.md'), 'utf8');
    for (const name of readdirSync(path.join(root, 'test/vectors/wycheproof'))) expect(readme).toContain(name);
    expect(readme).toMatch(/commit\s+`[0-9a-f]{40}`/);
    expect(readme).toContain('Apache License 2.0');
  });
});
