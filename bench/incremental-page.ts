/** In-page code of the incremental benchmark in Chromium (bundled by bench/incremental.ts). */
import { report, runWorkload } from './support/incremental-workload.js';

(globalThis as unknown as { e2eeIncremental: unknown }).e2eeIncremental = {
  async run(mib: number, rounds: number): Promise<string[]> {
    const lines: string[] = [];
    const r = await runWorkload(mib, rounds, (s) => lines.push(`[chromium] ${s}`));
    return [...lines, ...report('chromium', r)];
  },
};
