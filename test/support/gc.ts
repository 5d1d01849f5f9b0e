// Forced garbage collection for tests that check what a dropped object leaves behind
// (FinalizationRegistry callbacks, listeners held weakly). `--expose-gc` set at run time only
// exposes `gc` to contexts created afterwards, hence the fresh vm context.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collect garbage and let finalizers run, up to `rounds` times or until `until()` holds. */
export async function collectGarbage(until: () => boolean, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds && !until(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
}
