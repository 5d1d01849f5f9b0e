// The fleet operator's step, run once: a vault setup (secret, stays with the vault) and the fleet's
// public configuration (fleetId, OPAQUE suite, public key), which the app ships in its build.
//
//   npm run fleet:setup   -> .fleet/vault-setup.json (secret), src/fleet.json (public)
//
// With a real vault fleet, the operator hands you src/fleet.json (or a signed trust bundle) and
// you never see the secret half.
import { mkdirSync, writeFileSync } from 'node:fs';
import { generateVaultSetup } from 'e2ee-backup/server';
import { RFC9807_DEFAULT_SUITE_ID } from 'e2ee-backup';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const fleetId = process.env.FLEET_ID ?? 'example-fleet-1';
const { setup, publicKey } = await generateVaultSetup();
mkdirSync('.fleet', { recursive: true });
writeFileSync('.fleet/vault-setup.json', JSON.stringify({ fleetId, setup: hex(setup) }), { mode: 0o600 });
writeFileSync('src/fleet.json', JSON.stringify({ fleetId, suite: RFC9807_DEFAULT_SUITE_ID, publicKey: hex(publicKey) }, null, 2) + '\n');
console.log(`fleet ${fleetId}: public configuration in src/fleet.json, vault secret in .fleet/vault-setup.json`);
