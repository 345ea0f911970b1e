// TPM 2.0 devices at the attestation front door.
//
//   1. POST /attest/{p}/tpm/credential {ekCertificate, akPublic}: the EK certificate must chain to a
//      configured manufacturer root; the AK must be a restricted signing key fixed to the TPM. Signet
//      answers with TPM2_MakeCredential's output for a fresh secret.
//   2. POST /attest/{p}/tpm/activate {activationId, secret}: only the TPM that holds the EK, with the
//      AK loaded, recovers the secret (TPM2_ActivateCredential). Signet then certifies the AK (profile
//      tpm-ak) and records the device under its permanent identifier (SHA-256 of the EK's key).
//   3. ACME device-attest-01: the AK vouches for a new key (TPMS_ATTEST over its Name, extraData =
//      SHA-256 of the key authorization); verifyDeviceAttest() checks the statement and hands the
//      device's evidence to the posture policy.
import { randomBytes, randomUUID, timingSafeEqual, X509Certificate } from "node:crypto";
import { statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { AttestationError } from "../../ca/attestation/errors.js";
import { sha256hex } from "../../ca/digest.js";
import type { Evidence } from "../../ca/attestation/types.js";
import type { Authority } from "../../ca/authority.js";
import { blockedError } from "../../ca/authority.js";
import { AUDIT_EVENTS } from "../../ca/audit.js";
import { SignetError } from "../../ca/errors.js";
import type { AuditLog, CertificateRecord, ProvisionerRecord } from "../../ca/ports.js";
import { parseAttestationObject, verifyTpmStatement } from "../../ca/tpm/device-attest.js";
import { EkRoots } from "../../ca/tpm/ek.js";
import { assertStrongName, hasAttributes, makeCredential, parseTpmPublic, TPMA, TPM_ALG, tpm2ToolsCredentialFile, type TpmPublic } from "../../ca/tpm/tpm2.js";
import { parseCertificate } from "../../ca/x509/index.js";
import { OID } from "../../ca/x509/oids.js";
import type { SqlAttestationStore } from "../db/attestation-store.js";
import type { BlockCache } from "../revocation/blocks.js";

export interface TpmCredentialRequest {
  /** base64 DER of the EK certificate (tpm2_getekcertificate, or NV index 0x01c00002). */
  ekCertificate: string;
  /** base64 DER certificates between the EK certificate and a trusted root, if the TPM has them. */
  ekChain?: string[];
  /** base64 TPM2B_PUBLIC of the EK (tpm2_createek -u): its storage parameters; optional. */
  ekPublic?: string;
  /** base64 TPM2B_PUBLIC of the attestation key (tpm2_createak -u). */
  akPublic: string;
}

export interface TpmCredentialResult {
  activationId: string;
  permanentIdentifier: string;
  /** base64 of the file tpm2_activatecredential -i reads. */
  credential: string;
  /** base64 TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, for clients that are not tpm2-tools. */
  idObject: string;
  encryptedSecret: string;
  expiresAt: string;
}

export interface TpmActivateRequest {
  activationId: string;
  /** base64 of the secret TPM2_ActivateCredential released. */
  secret: string;
}

export interface TpmActivateResult {
  permanentIdentifier: string;
  serial: string;
  /** The AK certificate (PEM) and its chain: x5c of every device-attest-01 statement. */
  pem: string;
  chainPem: string;
  notAfter: string;
}

export interface TpmDeps {
  authority: Authority;
  certificates: { get(serialHex: string): Promise<CertificateRecord | null> };
  store: SqlAttestationStore;
  blocks: BlockCache;
  audit: AuditLog;
  home: string;
  clock: () => Date;
}

const ACTIVATION_TTL_MS = 5 * 60_000;
const MAX_OPEN_ACTIVATIONS = 5;

function b64(v: unknown, field: string, max = 8192): Buffer {
  if (typeof v !== "string" || v.length === 0 || v.length > max || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) throw new AttestationError("malformed", `${field} must be base64`);
  return Buffer.from(v, v.includes("-") || v.includes("_") ? "base64url" : "base64");
}

export class TpmDevices {
  readonly #d: TpmDeps;
  readonly #roots = new Map<string, { mtimeMs: number; roots: EkRoots }>();
  #intermediate: X509Certificate | null = null;

  constructor(deps: TpmDeps) {
    this.#d = deps;
  }

  /** The provisioner's manufacturer roots, re-read when the file changes. */
  #ekRoots(file: string): EkRoots {
    const path = isAbsolute(file) ? file : join(this.#d.home, file);
    let st;
    try {
      st = statSync(path);
    } catch {
      throw new SignetError("bad_policy", `the TPM manufacturer roots file ${path} cannot be read`);
    }
    const cached = this.#roots.get(path);
    if (cached && cached.mtimeMs === st.mtimeMs) return cached.roots;
    let roots: EkRoots;
    try {
      roots = EkRoots.fromFile(path);
    } catch {
      throw new SignetError("bad_policy", `the TPM manufacturer roots file ${path} holds a certificate that cannot be parsed`);
    }
    if (roots.certificates.length === 0) throw new SignetError("bad_policy", `the TPM manufacturer roots file ${path} holds no CA certificate`);
    this.#roots.set(path, { mtimeMs: st.mtimeMs, roots });
    return roots;
  }

  async credential(p: ProvisionerRecord, t: { ekRootsFile: string }, body: TpmCredentialRequest): Promise<TpmCredentialResult> {
    const now = this.#d.clock();
    const ekDer = b64(body.ekCertificate, "ekCertificate");
    const chain = (body.ekChain ?? []).map((c, i) => b64(c, `ekChain[${i}]`));
    const ek = this.#ekRoots(t.ekRootsFile).verify(ekDer, chain, now);
    let ekParams: { nameAlg: number; aesBits: number } = { nameAlg: TPM_ALG.SHA256, aesBits: 128 };
    if (body.ekPublic !== undefined) {
      const pub = parseTpmPublic(b64(body.ekPublic, "ekPublic"), { sized: true });
      if (!pub.spki.equals(ek.publicKey.export({ format: "der", type: "spki" }))) throw new AttestationError("claim_mismatch", "ekPublic is not the key of the EK certificate");
      if (!hasAttributes(pub, TPMA.fixedTPM | TPMA.fixedParent | TPMA.restricted | TPMA.decrypt, TPMA.sign) || pub.symmetric?.algorithm !== TPM_ALG.AES || pub.symmetric.mode !== TPM_ALG.CFB) {
        throw new AttestationError("claim_mismatch", "ekPublic is not a restricted storage key with AES-CFB, as an endorsement key is");
      }
      ekParams = { nameAlg: pub.nameAlg, aesBits: pub.symmetric.keyBits };
    }
    const ak = parseTpmPublic(b64(body.akPublic, "akPublic"), { sized: true });
    assertAttestationKey(ak);
    if (ekParams.nameAlg === TPM_ALG.SHA1) throw new AttestationError("weak_key", "the EK has a SHA-1 name algorithm; SHA-256 or stronger is required");
    const block = this.#d.blocks.find({ nodeId: ek.permanentIdentifier, identity: null, spiffeId: null, accountId: null });
    if (block) throw blockedError(block);
    // 32 bytes fit the name digest of every EK accepted (SHA-256 or stronger).
    const secret = randomBytes(32);
    const made = makeCredential({ publicKey: ek.publicKey, ...ekParams }, ak.name, secret);
    const id = randomUUID();
    const expiresAt = new Date(now.getTime() + ACTIVATION_TTL_MS);
    const claims: Record<string, string> = { permanentIdentifier: ek.permanentIdentifier, ekIssuer: ek.issuer.slice(0, 256) };
    if (ek.tpmManufacturer) claims.tpmManufacturer = ek.tpmManufacturer;
    if (ek.tpmModel) claims.tpmModel = ek.tpmModel;
    if (ek.tpmVersion) claims.tpmVersion = ek.tpmVersion;
    await this.#d.store.createTpmActivation({ id, provisionerId: p.id, permanentId: ek.permanentIdentifier, ekIssuer: ek.issuer.slice(0, 256), claims, akSpki: ak.spki, secretHash: sha256hex(secret), createdAt: now, expiresAt });
    // The step needs no credential (an EK certificate is public): a device keeps its newest few
    // activations open, so asking again and again cannot grow the table.
    await this.#d.store.trimTpmActivations(p.id, ek.permanentIdentifier, MAX_OPEN_ACTIVATIONS);
    return {
      activationId: id,
      permanentIdentifier: ek.permanentIdentifier,
      credential: tpm2ToolsCredentialFile(made).toString("base64"),
      idObject: made.idObject.toString("base64"),
      encryptedSecret: made.encryptedSecret.toString("base64"),
      expiresAt: expiresAt.toISOString(),
    };
  }

  async activate(p: ProvisionerRecord, akLifetimeSeconds: number, body: TpmActivateRequest, actor: string): Promise<TpmActivateResult> {
    if (typeof body.activationId !== "string" || !/^[0-9a-f-]{36}$/.test(body.activationId)) throw new AttestationError("malformed", "activationId must be the id the credential step returned");
    const secret = b64(body.secret, "secret", 128);
    const now = this.#d.clock();
    const a = await this.#d.store.spendTpmActivation(p.id, body.activationId, sha256hex(secret), now);
    if (!a) throw new AttestationError("replayed", "the activation is unknown, already used or expired, or the secret is not the one the credential carried");
    const block = this.#d.blocks.find({ nodeId: a.permanentId, identity: null, spiffeId: null, accountId: null });
    if (block) throw blockedError(block);
    const identity = `tpm:${a.permanentId}`;
    let issued: Awaited<ReturnType<Authority["sign"]>>;
    try {
      issued = await this.#d.authority.sign({
      csr: "",
      provenKey: { spki: a.akSpki, proof: "tpm2-credential-activation" },
      provisioner: p.name,
      via: "attestation",
      actor,
      options: [
        {
          kind: "modifier",
          name: "tpm-attestation-key",
          modify(draft, { provisioner }) {
            draft.profile = "tpm-ak";
            draft.commonName = a.permanentId.slice(0, 64);
            draft.identity = identity;
            draft.nodeId = a.permanentId;
            draft.roles = [];
            draft.lifetimeSeconds = Math.min(akLifetimeSeconds, provisioner.maxLifetimeSeconds);
          },
        },
      ],
      });
    } catch (err) {
      // Nothing was issued: the device may present the same secret again once the server recovers.
      await this.#d.store.restoreTpmActivation(a.id).catch(() => undefined);
      throw err;
    }
    await this.#d.store.addTpmDevice({ akSerial: issued.serialHex, provisionerId: p.id, permanentId: a.permanentId, ekIssuer: a.ekIssuer, claims: a.claims, createdAt: now });
    await this.#d.audit.append({
      event: AUDIT_EVENTS.attestationTpmActivated,
      actor,
      target: a.permanentId,
      data: { provisioner: p.name, permanentIdentifier: a.permanentId, ekIssuer: a.ekIssuer, claims: a.claims, akSerial: issued.serialHex },
    });
    return { permanentIdentifier: a.permanentId, serial: issued.serialHex, pem: issued.pem, chainPem: issued.chainPem, notAfter: issued.notAfter.toISOString() };
  }

  /** Checks a device-attest-01 attestation object: the AK certificate is one Signet issued after
   * activation (valid, unrevoked, of the device the order names), and the statement holds. */
  async verifyDeviceAttest(p: ProvisionerRecord, permanentIdentifier: string, attObj: string, keyAuthorization: string, maxBytes: number): Promise<{ evidence: Evidence; keySpki: Buffer }> {
    const st = parseAttestationObject(attObj, maxBytes);
    let ak: X509Certificate;
    try {
      ak = new X509Certificate(st.x5c[0]!);
    } catch (cause) {
      throw new AttestationError("malformed", "x5c[0] is not a certificate", { cause });
    }
    this.#intermediate ??= new X509Certificate(this.#d.authority.intermediate.certDer);
    if (!ak.checkIssued(this.#intermediate) || !ak.verify(this.#intermediate.publicKey)) throw new AttestationError("unknown_key", "the attestation key's certificate was not issued by this CA");
    if (!(ak.keyUsage ?? []).includes(OID.ekuTcgAik)) throw new AttestationError("claim_mismatch", "x5c[0] is not an attestation key certificate (tcg-kp-AIKCertificate)");
    const rec = await this.#d.certificates.get(parseCertificate(ak.raw).serialHex);
    const now = this.#d.clock();
    if (!rec?.der || !rec.der.equals(ak.raw)) throw new AttestationError("unknown_key", "the attestation key's certificate is not on record");
    if (rec.status !== "valid" || rec.notAfter <= now) throw new AttestationError("expired", `the attestation key's certificate is ${rec.status === "valid" ? "expired" : rec.status}`);
    const device = await this.#d.store.tpmDevice(rec.serialHex);
    if (!device || device.provisionerId !== p.id) throw new AttestationError("unknown_key", `the attestation key was not activated through provisioner ${p.name}`);
    const a = Buffer.from(device.permanentId);
    const b = Buffer.from(permanentIdentifier);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new AttestationError("claim_mismatch", "the attestation key belongs to another device than the order's permanent-identifier");
    const { key } = verifyTpmStatement(st, ak.publicKey, keyAuthorization);
    return {
      keySpki: key.spki,
      evidence: {
        type: "tpm",
        issuer: device.ekIssuer,
        subject: device.permanentId,
        nodeId: device.permanentId,
        claims: { ...device.claims, akSerial: rec.serialHex, keyType: key.type === "rsa" ? `RSA-${key.rsa!.bits}` : key.ecc!.curve },
        issuedAt: device.createdAt,
        expiresAt: rec.notAfter,
        uniqueId: null,
        digest: sha256hex(attObj),
      },
    };
  }

  purgeActivations(before: Date): Promise<void> {
    return this.#d.store.purgeTpmActivations(before);
  }
}

/** An attestation key: a restricted signing key generated in and fixed to its TPM. */
function assertAttestationKey(ak: TpmPublic): void {
  assertStrongName(ak, "akPublic");
  if (!hasAttributes(ak, TPMA.fixedTPM | TPMA.fixedParent | TPMA.sensitiveDataOrigin | TPMA.restricted | TPMA.sign, TPMA.decrypt)) {
    throw new AttestationError("claim_mismatch", "akPublic is not an attestation key: a restricted signing key generated in the TPM (fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign)");
  }
}
