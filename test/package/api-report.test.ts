// The public surface is deliberate: every export of package.json has an API report in etc/api/
// (api-extractor 7), and a build whose surface differs fails here. After an intended change, run
// `npm run api:report` and commit the changed etc/api/*.api.md with the change (the diff is the
// review of the surface).
import { expect, it } from 'vitest';
import { apiReports } from '../../scripts/api-report.js';

it('the API reports in etc/api/ match the build', () => {
  const results = apiReports(false);
  expect(results.length).toBeGreaterThanOrEqual(8);
  const changed = results.filter((r) => r.changed).map((r) => `${r.entry} (compare etc/api with .tmp/api; npm run api:report to accept)`);
  expect(changed).toEqual([]);
  expect(results.flatMap((r) => r.errors)).toEqual([]);
}, 300_000);
