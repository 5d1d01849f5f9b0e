/**
 * OPAQUE-3DH as published in RFC 9807, behind the {@link OpaqueSuite} interface: client and
 * server, on `@noble/curves` and `@noble/hashes` only (no big-number code of our own), for the
 * groups `ristretto255-SHA512` and `P256-SHA256` and a pluggable key stretching function.
 *
 * Suite ids are `rfc9807/<group>/<ksf>`, the KSF with its parameters, e.g.
 * `rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1` (the default for new fleets,
 * {@link RFC9807_DEFAULT_SUITE_ID}); {@link rfc9807Suite} builds the suite an id names.
 * Wire messages are exactly RFC 9807's (§5.1, §6.1), so a vault or client built on another
 * implementation of the RFC (opaque-ke, through `@serenity-kit/opaque`) interoperates when it runs
 * the same group and KSF (test/recovery/opaque-rfc9807-interop.test.ts).
 *
 * The client side is rfc9807-client.ts (what the vault client in the package entry runs); this
 * module adds the vault side, `server()`.
 *
 * @module
 */
import { BackupError } from '../../errors.js';
import { abytes, concatBytes, equalBytes, wipe } from '../../util/bytes.js';
import type { OpaqueBinding } from '../protocol.js';
import { NN, NSEED, createRegistrationResponse, deriveDhKeyPair, dh, generateKE2, serverFinish, sizes } from './rfc9807-core.js';
import { GROUP_SIZES, loadedGroup } from './rfc9807-groups.js';
import { RFC9807_DEFAULT_SUITE_ID, Rfc9807ClientSuite, parse, parseRfc9807Id } from './rfc9807-client.js';
import type { OpaqueServer, OpaqueSuite } from './suite.js';

export { RFC9807_DEFAULT_SUITE_ID, RFC9807_SERENITY_SUITE_ID, type Rfc9807GroupName } from './rfc9807-client.js';

/**
 * @internal An RFC 9807 OPAQUE-3DH suite for a group and KSF, client and server. Public code gets
 * it through {@link rfc9807Suite}; tests construct it with the identity KSF and a seeded `random`.
 */
export class Rfc9807Suite extends Rfc9807ClientSuite {
  override async generateServerSetup(): Promise<Uint8Array> {
    const g = await this.g();
    const oprfSeed = this.rand(g.Nh);
    const seed = this.rand(NSEED);
    const kp = deriveDhKeyPair(g, seed);
    try {
      return concatBytes(oprfSeed, kp.secretKey, kp.publicKey);
    } finally {
      wipe(oprfSeed, seed, kp.secretKey);
    }
  }

  override setupPublicKey(setup: Uint8Array): Uint8Array {
    const g = GROUP_SIZES[this.group]!;
    abytes(setup, 'setup', g.Nh + g.Nsk + g.Noe);
    return setup.slice(g.Nh + g.Nsk);
  }

  override server(setup: Uint8Array, binding: Pick<OpaqueBinding, 'serverIdentity'>): OpaqueServer {
    const g = loadedGroup(this.group);
    if (g === undefined) {
      throw new BackupError(
        'ENGINE_UNAVAILABLE',
        'the P-256 group is not loaded yet: use the e2ee-backup/server entry, or await generateServerSetup() first',
      );
    }
    const s = sizes(g);
    abytes(setup, 'setup', g.Nh + g.Nsk + g.Noe);
    const serverIdentity = Uint8Array.from(abytes(binding?.serverIdentity, 'binding.serverIdentity'));
    const oprfSeed = setup.slice(0, g.Nh);
    const sk = setup.slice(g.Nh, g.Nh + g.Nsk);
    const pk = setup.slice(g.Nh + g.Nsk);
    // Refuse a setup whose public key does not belong to its private key.
    let matches: boolean;
    try {
      matches = equalBytes(g.publicKey(sk), pk);
    } catch (e) {
      throw new RangeError('setup: invalid private key', { cause: e });
    }
    if (!matches) throw new RangeError('setup: public key does not match the private key');
    const random = (n: number) => this.rand(n);
    const checkRecord = (b: Uint8Array): Uint8Array => {
      g.decode(b.subarray(0, s.Npk));
      return b;
    };
    return {
      suite: this.id,
      publicKey: Uint8Array.from(pk),
      async registrationResponse(request: Uint8Array, b: OpaqueBinding): Promise<Uint8Array> {
        parse('registration request', request, s.request, (x) => g.decode(x));
        abytes(b?.credentialIdentifier, 'binding.credentialIdentifier');
        return createRegistrationResponse(g, request, pk, b.credentialIdentifier, oprfSeed);
      },
      checkRecord(record: Uint8Array): void {
        parse('registration record', record, s.record, checkRecord);
      },
      async startLogin(ke1: Uint8Array, record: Uint8Array, b: OpaqueBinding) {
        parse('KE1', ke1, s.ke1, (x) => {
          g.decode(x.subarray(0, s.Noe));
          g.decode(x.subarray(s.Noe + NN));
        });
        parse('registration record', record, s.record, checkRecord);
        const maskingNonce = random(NN);
        const serverNonce = random(NN);
        const seed = random(NSEED);
        try {
          return generateKE2(
            g,
            serverIdentity,
            sk,
            pk,
            record,
            b.credentialIdentifier,
            oprfSeed,
            ke1,
            b.clientIdentity,
            b.context,
            maskingNonce,
            serverNonce,
            seed,
          );
        } finally {
          wipe(seed);
        }
      },
      keyAgreement(peerPublicKey: Uint8Array): Uint8Array {
        return parse('public key', peerPublicKey, g.Noe, (b) => dh(g, sk, b));
      },
      finishLogin(ke3: Uint8Array, expected: Uint8Array): Uint8Array | undefined {
        parse('KE3', ke3, s.ke3, () => undefined);
        parse('expected state', expected, 2 * g.Nh, () => undefined);
        return serverFinish(g, ke3, expected);
      },
    };
  }
}

/**
 * The RFC 9807 suite a suite id names: `rfc9807/<group>/<ksf>` with the group
 * `ristretto255-SHA512` or `P256-SHA256` and the KSF `argon2id-m<KiB>-t<passes>-p<lanes>` or
 * `scrypt-N<N>-r<r>-p<p>` (bounds in `argon2idKsf` / `scryptKsf`). With no id, the default suite
 * for new fleets ({@link RFC9807_DEFAULT_SUITE_ID}). Throws `RangeError` for an id it cannot run.
 *
 * @example
 * ```ts
 * const suite = rfc9807Suite(); // rfc9807/ristretto255-SHA512/argon2id-m47104-t1-p1
 * const vault = createVaultClient({ fleetId, accountId, baseUrl, fetch, getToken, trust, suite });
 * ```
 */
export function rfc9807Suite(id: string = RFC9807_DEFAULT_SUITE_ID): OpaqueSuite {
  const p = parseRfc9807Id(id);
  if (p === undefined) throw new RangeError('not an RFC 9807 suite id this SDK runs');
  return new Rfc9807Suite(p.group, p.ksf);
}

/** Whether `id` names an RFC 9807 suite this SDK can run. */
export function isRfc9807SuiteId(id: string): boolean {
  return parseRfc9807Id(id) !== undefined;
}
