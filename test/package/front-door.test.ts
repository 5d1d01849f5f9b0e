// The package entry exports exactly the agreed runtime names (test/package/front-door.ts), from the
// source; test/package/pack.test.ts checks the same list against the packed tarball.
import { expect, it } from 'vitest';
import * as entry from '../../lib/index.js';
import { FRONT_DOOR } from './front-door.js';

it('e2ee-backup exports exactly the agreed runtime names', () => {
  expect(Object.keys(entry).sort()).toEqual(FRONT_DOOR);
});
