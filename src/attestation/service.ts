// The attestation front door's logic (step 5): evidence in, a posture decision out, and a
// credential bound to that decision: single-use ACME EAB keys for any stock ACME client, a SCEP
// one-time challenge, or the certificate itself when the request carries a CSR. Every decision,
// allow or deny, is an audit event with the evidence's digest and the policy version.
import { randomBytes, randomUUID } from "node:crypto";
import { join, isAbsolute } from "node:path";
import type { Logger } from "pino";
import type { CreatedEabKey } from "../../acme/index.js";
import { AttestationError, isAttestationError } from "../../ca/attestation/errors.js";
import { sha256hex } from "../../ca/digest.js";
import { attested, type AttestedBinding } from "../../ca/attestation/sign-options.js";
import type { AllowDecision, Decision, Evidence } from "../../ca/attestation/types.js";
import { PostureAttestor } from "../../ca/attestation/posture-attestor.js";
import { KubernetesAttestor } from "../../ca/attestation/kubernetes-attestor.js";
import type { Authority, IssuedCertificate } from "../../ca/authority.js";
import { blockedError } from "../../ca/authority.js";
import { AUDIT_EVENTS } from "../../ca/audit.js";
import { SignetError } from "../../ca/errors.js";
import type { AuditLog, CertificateRecord, ProvisionerRecord } from "../../ca/ports.js";
import { parseCertificate } from "../../ca/x509/index.js";
import { acmeSettings, attestationSettings, validateText, type AttestationSettings } from "../../ca/provisioners/index.js";
import { MAX_IDENTITY } from "../../ca/provisioners/common.js";
import type { KeySource } from "../../ca/provisioners/attestation.js";
import type { ScepService } from "../../scep/index.js";
import type { SqlAttestationStore } from "../db/attestation-store.js";
import type { ProvisionerRepository } from "../db/provisioners.js";
import type { BlockCache } from "../revocation/blocks.js";
import { loadJwks, type LiveJwkSet } from "./jwks.js";
import { PolicyFile } from "./policy-file.js";
import { TpmDevices, type TpmActivateRequest, type TpmActivateResult, type TpmCredentialRequest, type TpmCredentialResult } from "./tpm.js";

export type CredentialKind = "acme" | "scep" | "certificate";

export interface AttestRequest {
  evidence: { type: "posture" | "kubernetes" | "join-token" | "certificate"; token?: string };
  credential?: CredentialKind;
  /** PEM CSR, for credential "certificate". */
  csr?: string;
}

export interface AttestResult {
  decision: Omit<AllowDecision, "allow">;
  acme?: { directory: string; kid: string; hmacKey: string; expiresAt: string };
  scep?: { url: string; challenge: string; expiresAt: string };
  certificate?: { serial: string; pem: string; chainPem: string; notAfter: string };
}

export interface AttestationDeps {
  authority: Authority;
  certificates: { get(serialHex: string): Promise<CertificateRecord | null> };
  provisioners: ProvisionerRepository;
  blocks: BlockCache;
  audit: AuditLog;
  store: SqlAttestationStore;
  /** Creates an EAB key for an ACME provisioner (wired by the composition root to the ACME front
   * end's createEabKey), so the front door holds no ACME state of its own. */
  createEab(target: ProvisionerRecord, actor: string, opts: { singleUse: boolean; ttlSeconds: number; note: string; binding: AttestedBinding }): Promise<CreatedEabKey>;
  scep: ScepService;
  home: string;
  httpUrl: string;
  log: Logger;
  clock?: () => Date;
}


export class AttestationService {
  readonly #d: AttestationDeps;
  readonly #policies = new Map<string, PolicyFile>();
  readonly #settings = new WeakMap<ProvisionerRecord, AttestationSettings>();
  readonly #clock: () => Date;
  readonly #tpm: TpmDevices;

  constructor(deps: AttestationDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? (() => new Date());
    this.#tpm = new TpmDevices({ ...deps, clock: this.#clock });
  }

  /** Provisioner records are replaced when they change, so their settings are read once each. */
  settingsOf(p: ProvisionerRecord): AttestationSettings {
    let settings = this.#settings.get(p);
    if (!settings) this.#settings.set(p, (settings = attestationSettings(p.options, { trustDomain: "signet.internal", policyFile: join("policies", `${p.name}.cedar`) })));
    return settings;
  }

  /** The provisioner's policy file, loaded once and then hot-reloaded. A broken file at first load
   * refuses attestation with the reason (the previous version stays in force after that). */
  policyOf(p: ProvisionerRecord, s: AttestationSettings): PolicyFile {
    const path = isAbsolute(s.policyFile) ? s.policyFile : join(this.#d.home, s.policyFile);
    const key = `${p.name}\0${path}\0${s.trustDomain}`;
    let f = this.#policies.get(key);
    if (!f) {
      f = new PolicyFile(path, { trustDomain: s.trustDomain, log: this.#d.log });
      f.load();
      f.watch();
      this.#policies.set(key, f);
    }
    return f;
  }

  /** Forgets spent evidence ids whose evidence has expired anyway. */
  async purgeUsedIds(before: Date): Promise<void> {
    await this.#d.store.purgeUsedIds(before);
    await this.#tpm.purgeActivations(before);
  }

  close(): void {
    for (const f of this.#policies.values()) f.close();
    this.#policies.clear();
  }

  /** Verifies evidence. Nothing is spent here: spend() does that once a decision allows it. */
  async verify(p: ProvisionerRecord, s: AttestationSettings, ev: AttestRequest["evidence"]): Promise<Evidence> {
    const now = this.#clock();
    if (!ev || typeof ev.token !== "string" || ev.token.length === 0) throw new AttestationError("malformed", "evidence.token is missing");
    const token: string = ev.token;
    if (Buffer.byteLength(token) > s.maxEvidenceBytes) throw new AttestationError("too_large", `the evidence is larger than ${s.maxEvidenceBytes} bytes`);
    let evidence: Evidence;
    switch (ev.type) {
      case "posture": {
        if (s.posture.attesters.length === 0) throw new AttestationError("unsupported_alg", `provisioner ${p.name} trusts no posture attester`);
        const attesters = await Promise.all(s.posture.attesters.map(async (a) => ({ issuer: a.issuer, algorithms: a.algorithms, audience: a.audience, keys: await this.#jwks(a) })));
        evidence = await withRefresh(attesters, () => new PostureAttestor(attesters, { maxAgeSeconds: s.posture.maxAgeSeconds, maxTokenBytes: s.maxEvidenceBytes }).verify(token, now));
        break;
      }
      case "kubernetes": {
        if (s.kubernetes.clusters.length === 0) throw new AttestationError("unsupported_alg", `provisioner ${p.name} trusts no Kubernetes cluster`);
        const clusters = await Promise.all(s.kubernetes.clusters.map(async (c) => ({ issuer: c.issuer, audiences: c.audiences, keys: await this.#jwks(c) })));
        evidence = await withRefresh(clusters, () => new KubernetesAttestor(clusters, { maxAgeSeconds: s.kubernetes.maxAgeSeconds, maxTokenBytes: s.maxEvidenceBytes }).verify(token, now));
        break;
      }
      case "join-token": {
        if (!s.joinTokens) throw new AttestationError("unsupported_alg", `provisioner ${p.name} does not accept join tokens`);
        const hash = sha256hex(token);
        const t = await this.#d.store.findJoinToken(p.id, hash, now);
        if (!t) throw new AttestationError("replayed", "the join token is unknown, already used or expired");
        const claims = t.claims;
        evidence = {
          type: "join-token",
          issuer: "signet",
          subject: typeof claims.identity === "string" ? claims.identity : `join-token:${t.id}`,
          nodeId: typeof claims.nodeId === "string" ? claims.nodeId : null,
          claims,
          issuedAt: t.createdAt,
          expiresAt: t.expiresAt,
          uniqueId: null,
          digest: hash,
        };
        break;
      }
      default:
        throw new AttestationError("malformed", `evidence.type must be posture, kubernetes or join-token`);
    }
    return evidence;
  }

  /** A provisioner's key source as a live key set (files relative to $SIGNET_HOME). */
  #jwks(src: KeySource) {
    const file = src.jwksFile === undefined ? undefined : isAbsolute(src.jwksFile) ? src.jwksFile : join(this.#d.home, src.jwksFile);
    return loadJwks({ ...(file ? { file } : {}), ...(src.jwksUrl ? { url: src.jwksUrl } : {}), ...(src.oidcDiscoveryUrl ? { oidcDiscoveryUrl: src.oidcDiscoveryUrl } : {}) }, { fetchTimeoutMs: 5000 });
  }

  /**
   * Uses single-use evidence up (a join token; a jti, or for Kubernetes tokens without one, the token
   * itself), atomically: a second use is a replay. Returns how to give it back if what it was spent
   * for fails for a reason that is not the workload's.
   */
  async #spend(p: ProvisionerRecord, evidence: Evidence): Promise<() => Promise<void>> {
    const now = this.#clock();
    if (evidence.type === "join-token") {
      if (!(await this.#d.store.spendJoinToken(p.id, evidence.digest, now))) throw new AttestationError("replayed", "the join token is unknown, already used or expired");
      return () => this.#d.store.restoreJoinToken(p.id, evidence.digest);
    }
    const unique = evidence.uniqueId ?? (evidence.type === "kubernetes" ? `digest:${evidence.digest}` : null);
    if (unique === null) return async () => undefined;
    const id = `${evidence.type}:${evidence.issuer}:${unique}`;
    if (!(await this.#d.store.spendUniqueId(id, evidence.expiresAt ?? new Date(now.getTime() + 86_400_000)))) {
      throw new AttestationError("replayed", "this evidence was already used");
    }
    return () => this.#d.store.unspendUniqueId(id);
  }

  /** What the policy decides for evidence, without spending or issuing anything (signet policy test). */
  async test(p: ProvisionerRecord, ev: AttestRequest["evidence"]): Promise<{ evidence: Evidence; decision: Decision }> {
    this.#assertType(p);
    const s = this.settingsOf(p);
    const evidence = await this.verify(p, s, ev);
    return { evidence, decision: this.policyOf(p, s).current().decide(evidence, p.name, this.#clock()) };
  }

  /** `httpsBase`: this server's HTTPS origin as the client reached it (the ACME directory's base). */
  async attest(p: ProvisionerRecord, req: AttestRequest, actor: string, httpsBase: string): Promise<AttestResult> {
    this.#assertType(p);
    const s = this.settingsOf(p);
    const evidence = await this.verify(p, s, req.evidence);
    const { decision, binding } = await this.#decide(p, s, evidence, actor);
    const { allow: _allow, ...shown } = decision;
    const result: AttestResult = { decision: shown };
    const kind = req.credential ?? (req.csr ? "certificate" : "acme");
    if (kind !== "acme" && kind !== "scep" && kind !== "certificate") throw new SignetError("bad_request", "credential must be acme, scep or certificate");
    const giveBack = await this.#spend(p, evidence);
    try {
      if (kind === "acme") result.acme = await this.#eab(p, s, binding, actor, httpsBase);
      else if (kind === "scep") result.scep = await this.#scepChallenge(s, binding, actor);
      else result.certificate = await this.#certificate(p, req.csr, binding, actor);
    } catch (err) {
      // Nothing was handed out: the evidence may be presented again (with a corrected CSR, or once
      // the server is healthy).
      await giveBack().catch(() => undefined);
      throw err;
    }
    return result;
  }

  /** Node blocks, the policy's decision (audited, allow or deny), and the binding a credential
   * handed out for an allowing decision carries. */
  async #decide(p: ProvisionerRecord, s: AttestationSettings, evidence: Evidence, actor: string): Promise<{ decision: AllowDecision; binding: AttestedBinding }> {
    const block = this.#d.blocks.find({ nodeId: evidence.nodeId, identity: null, spiffeId: null, accountId: null });
    if (block) throw blockedError(block);
    const now = this.#clock();
    const decision = this.policyOf(p, s).current().decide(evidence, p.name, now);
    await this.#d.audit.append({
      event: AUDIT_EVENTS.attestationDecided,
      actor,
      target: evidence.nodeId ?? evidence.subject.slice(0, 256),
      data: {
        provisioner: p.name,
        evidence: { type: evidence.type, issuer: evidence.issuer, subject: evidence.subject.slice(0, 256), nodeId: evidence.nodeId, digest: evidence.digest },
        policyVersion: decision.policyVersion,
        allow: decision.allow,
        reasons: decision.reasons,
        ...(decision.allow ? { spiffeId: decision.spiffeId, identity: decision.identity, dns: decision.dns, ip: decision.ip, roles: decision.roles } : {}),
      },
    });
    if (!decision.allow) {
      throw new SignetError("forbidden", `the posture policy refuses this workload: ${decision.reasons.join("; ")}`, { detail: { reasons: decision.reasons, policyVersion: decision.policyVersion } });
    }
    validateText(decision.identity, "the decided identity", MAX_IDENTITY);
    const after = this.#d.blocks.find({ nodeId: decision.nodeId, identity: decision.identity, spiffeId: decision.spiffeId, accountId: null });
    if (after) throw blockedError(after);
    const binding: AttestedBinding = {
      spiffeId: decision.spiffeId,
      identity: decision.identity,
      nodeId: decision.nodeId,
      dns: decision.dns,
      ip: decision.ip,
      roles: decision.roles,
      profile: decision.profile,
      lifetimeSeconds: decision.lifetimeSeconds,
      policyVersion: decision.policyVersion,
      evidenceDigest: evidence.digest,
      // Credentials handed out for this decision stop working when a renewal line would have to
      // attest again: a decision is not good forever.
      expiresAt: new Date(now.getTime() + s.renewal.maxAgeSeconds * 1000).toISOString(),
      commonName: cnOf(evidence.subject),
    };
    return { decision, binding };
  }

  // TPM 2.0 devices: credential activation certifies an attestation key (AK) that shares a TPM with
  // an endorsement key from a trusted manufacturer; device-attest-01 then proves, with that AK, that
  // a fresh key lives in the TPM, and the posture policy decides what the device may hold.

  /** Step 1 of credential activation: an encrypted credential only the TPM holding the EK can open,
   * and only for the AK named. */
  async tpmCredential(p: ProvisionerRecord, body: TpmCredentialRequest): Promise<TpmCredentialResult> {
    this.#assertType(p);
    return this.#tpm.credential(p, this.#tpmSettings(p), body);
  }

  /** Step 2: the recovered secret proves the AK is in that TPM; the AK gets a tpm-ak certificate. */
  async tpmActivate(p: ProvisionerRecord, body: TpmActivateRequest, actor: string): Promise<TpmActivateResult> {
    this.#assertType(p);
    return this.#tpm.activate(p, this.#tpmSettings(p).akLifetimeSeconds, body, actor);
  }

  /** device-attest-01 (wired into the ACME front end): the attested key, and the binding the
   * attestation provisioner's policy decided for the device. */
  async deviceAttest(input: { attestationProvisioner: string; permanentIdentifier: string; attObj: string; keyAuthorization: string; accountId: string }): Promise<{ keySpki: Buffer; binding: AttestedBinding }> {
    const p = await this.#d.provisioners.get(input.attestationProvisioner);
    if (!p || p.type !== "attestation" || !p.enabled) throw new SignetError("conflict", `attestation provisioner ${input.attestationProvisioner} is not an enabled attestation provisioner`);
    const s = this.settingsOf(p);
    this.#tpmSettings(p);
    const { evidence, keySpki } = await this.#tpm.verifyDeviceAttest(p, input.permanentIdentifier, input.attObj, input.keyAuthorization, s.maxEvidenceBytes);
    const { binding } = await this.#decide(p, s, evidence, `acme-account:${input.accountId}`);
    return { keySpki, binding: { ...binding, commonName: binding.commonName ?? cnOf(input.permanentIdentifier) } };
  }

  #tpmSettings(p: ProvisionerRecord): NonNullable<AttestationSettings["tpm"]> {
    const t = this.settingsOf(p).tpm;
    if (!t) throw new SignetError("not_found", `attestation provisioner ${p.name} does not accept TPM devices (options.tpm is not set)`);
    return t;
  }

  async #eab(p: ProvisionerRecord, s: AttestationSettings, binding: AttestedBinding, actor: string, httpsBase: string): Promise<NonNullable<AttestResult["acme"]>> {
    if (!s.acmeProvisioner) throw new SignetError("conflict", `attestation provisioner ${p.name} names no acmeProvisioner`);
    const target = await this.#d.provisioners.get(s.acmeProvisioner);
    if (!target || target.type !== "acme" || !target.enabled) throw new SignetError("conflict", `acmeProvisioner ${s.acmeProvisioner} is not an enabled ACME provisioner`);
    // An ACME provisioner that does not require EAB would issue without the decision's limits.
    if (!acmeSettings(target.options).requireEab) throw new SignetError("conflict", `ACME provisioner ${target.name} must require external account binding to take attested accounts`);
    const k = await this.#d.createEab(target, actor, {
      singleUse: true,
      ttlSeconds: s.credentialTtlSeconds,
      note: `attestation:${p.name}`,
      binding,
    });
    return { directory: `${httpsBase}/acme/${target.name}/directory`, kid: k.kid, hmacKey: k.hmacKey, expiresAt: k.expiresAt!.toISOString() };
  }

  async #scepChallenge(s: AttestationSettings, binding: AttestedBinding, actor: string): Promise<NonNullable<AttestResult["scep"]>> {
    if (!s.scepProvisioner) throw new SignetError("conflict", "this attestation provisioner names no scepProvisioner");
    const target = await this.#d.provisioners.get(s.scepProvisioner);
    if (!target || target.type !== "scep" || !target.enabled) throw new SignetError("conflict", `scepProvisioner ${s.scepProvisioner} is not an enabled SCEP provisioner`);
    const c = await this.#d.scep.createChallenge(
      target,
      {
        ttlSeconds: s.credentialTtlSeconds,
        binding: {},
        attested: binding,
        note: "attestation",
      },
      actor,
    );
    return { url: `${this.#d.httpUrl}/scep/${target.name}`, challenge: c.challenge, expiresAt: c.expiresAt.toISOString() };
  }

  async #certificate(p: ProvisionerRecord, csr: string | undefined, binding: AttestedBinding, actor: string): Promise<NonNullable<AttestResult["certificate"]>> {
    if (typeof csr !== "string" || csr.length === 0) throw new SignetError("bad_request", "credential certificate needs csr (PEM)");
    const issued: IssuedCertificate = await this.#d.authority.sign({ csr, provisioner: p.name, via: "attestation", actor, options: attested(binding) });
    return { serial: issued.serialHex, pem: issued.pem, chainPem: issued.chainPem, notAfter: issued.notAfter.toISOString() };
  }

  /**
   * Renewal with the current certificate (evidence "certificate", over mTLS): a valid, unrevoked
   * certificate issued under this provisioner's decisions (directly, or through its ACME or SCEP
   * provisioner) renews the same identity, names, node and roles without attesting again, up to the
   * provisioner's renewal limits. `clientCertDer` is the certificate the TLS handshake verified.
   */
  async renew(p: ProvisionerRecord, clientCertDer: Buffer | null, csr: string | undefined, actor: string): Promise<AttestResult> {
    this.#assertType(p);
    const s = this.settingsOf(p);
    if (!clientCertDer) throw new AttestationError("malformed", "renewal needs a client certificate issued by this CA, presented in the TLS handshake");
    const cert = parseCertificate(clientCertDer);
    const rec = await this.#d.certificates.get(cert.serialHex);
    const now = this.#clock();
    if (!rec?.der || !rec.der.equals(clientCertDer)) throw new AttestationError("unknown_key", "the client certificate is not one this CA issued");
    if (rec.status !== "valid" || rec.notAfter <= now) throw new AttestationError("expired", `the client certificate is ${rec.status === "valid" ? "expired" : rec.status}`);
    const family = new Set([p.name, s.acmeProvisioner, s.scepProvisioner].filter((x): x is string => x !== null));
    if (!family.has(rec.provisionerName)) throw new SignetError("forbidden", `the client certificate was issued by provisioner ${rec.provisionerName}, which this attestation provisioner does not vouch for`);
    const line = (await this.#d.store.lineage(rec.serialHex)) ?? { firstNotBefore: rec.notBefore, renewals: 0 };
    const ageSeconds = Math.floor((now.getTime() - line.firstNotBefore.getTime()) / 1000);
    if (line.renewals >= s.renewal.maxRenewals || ageSeconds > s.renewal.maxAgeSeconds) {
      throw new SignetError("forbidden", `attest again: this certificate line has been renewed ${line.renewals} times over ${ageSeconds} s (limits ${s.renewal.maxRenewals} renewals, ${s.renewal.maxAgeSeconds} s)`, { detail: { renewals: line.renewals, ageSeconds } });
    }
    const block = this.#d.blocks.find({ nodeId: rec.nodeId, identity: rec.identity, spiffeId: rec.spiffeId, accountId: rec.accountId });
    if (block) throw blockedError(block);
    // A line whose earlier certificate was revoked renews no further.
    for (const serial of await this.#d.store.ancestors(rec.serialHex, s.renewal.maxRenewals + 1)) {
      const a = await this.#d.certificates.get(serial);
      if (a?.status === "revoked") throw new SignetError("forbidden", `attest again: certificate ${serial}, which this one renews, is revoked`);
    }
    const binding: AttestedBinding = {
      spiffeId: rec.spiffeId,
      identity: rec.identity ?? rec.spiffeId ?? rec.commonName ?? rec.serialHex,
      nodeId: rec.nodeId,
      dns: rec.names.dns,
      ip: rec.names.ip,
      roles: rec.roles,
      profile: rec.profile,
      lifetimeSeconds: Math.max(Math.floor((rec.notAfter.getTime() - rec.notBefore.getTime()) / 1000), 1),
      policyVersion: "renewal",
      evidenceDigest: sha256hex(clientCertDer),
      expiresAt: null,
      commonName: rec.commonName,
    };
    await this.#d.audit.append({
      event: AUDIT_EVENTS.attestationDecided,
      actor,
      target: rec.nodeId ?? binding.identity,
      data: { provisioner: p.name, evidence: { type: "certificate", serial: rec.serialHex, digest: binding.evidenceDigest }, policyVersion: "renewal", allow: true, reasons: [`renewal ${line.renewals + 1} of ${s.renewal.maxRenewals}`], spiffeId: binding.spiffeId, identity: binding.identity, dns: binding.dns, ip: binding.ip, roles: binding.roles },
    });
    // One renewal per certificate: a line cannot fan out into many valid children.
    if (!(await this.#d.store.reserveRenewal(rec.serialHex))) throw new SignetError("conflict", "this certificate has already been renewed; renew with its successor");
    let certificate: NonNullable<AttestResult["certificate"]>;
    try {
      certificate = await this.#certificate(p, csr, binding, actor);
    } catch (err) {
      await this.#d.store.releaseRenewal(rec.serialHex).catch(() => undefined);
      throw err;
    }
    await this.#d.store.addLineage(certificate.serial, line.firstNotBefore, line.renewals + 1, rec.serialHex);
    const { evidenceDigest: _d, expiresAt: _e, commonName: _c, ...decision } = binding;
    return { decision: { ...decision, reasons: [`renewal of ${rec.serialHex}`] }, certificate };
  }

  /** A one-time join token (signet token join): scoped claims the policy reads, shown once. */
  async createJoinToken(p: ProvisionerRecord, input: { ttlSeconds: number; claims: Record<string, unknown>; note?: string | undefined }, actor: string) {
    this.#assertType(p);
    const claims = joinClaims(input.claims);
    const token = `sjt_${randomBytes(24).toString("base64url")}`;
    const id = randomUUID();
    const now = this.#clock();
    const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000);
    await this.#d.store.createJoinToken({ id, provisionerId: p.id, secretHash: sha256hex(token), claims, note: input.note ?? null, createdBy: actor, createdAt: now, expiresAt });
    await this.#d.audit.append({ event: AUDIT_EVENTS.attestationJoinTokenCreated, actor, target: id, data: { provisioner: p.name, claims, expiresAt: expiresAt.toISOString(), note: input.note ?? null } });
    return { id, token, provisioner: p.name, claims, expiresAt };
  }

  #assertType(p: ProvisionerRecord): void {
    if (p.type !== "attestation") throw new SignetError("bad_request", `provisioner ${p.name} is of type ${p.type}, not attestation`);
  }
}

/** The evidence's subject as a certificate common name, when it is one (RFC 5280: at most 64). */
function cnOf(subject: string): string | null {
  return /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/.test(subject) ? subject : null;
}

/** Verifies; on a kid no loaded key set has (the issuer rotated its keys), reloads them once and tries again. */
async function withRefresh<T>(sources: Array<{ keys: LiveJwkSet }>, verify: () => T): Promise<T> {
  try {
    return verify();
  } catch (err) {
    if (!isAttestationError(err, "unknown_key")) throw err;
    const reloaded = await Promise.all(sources.map((x) => x.keys.refresh().catch(() => false)));
    if (!reloaded.some(Boolean)) throw err;
    return verify();
  }
}

/** Join-token claims: short strings or string lists under simple names (what the policy reads). */
function joinClaims(c: Record<string, unknown>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const keys = Object.keys(c);
  if (keys.length > 32) throw new SignetError("bad_request", "at most 32 claims");
  for (const k of keys) {
    if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(k)) throw new SignetError("bad_request", `claim name ${JSON.stringify(k.slice(0, 64))} must be a letter then letters, digits or _`);
    const v = c[k];
    if (typeof v === "string" && v.length > 0 && v.length <= 1024) out[k] = v;
    else if (Array.isArray(v) && v.length <= 100 && v.every((x) => typeof x === "string" && x.length > 0 && x.length <= 1024)) out[k] = v as string[];
    else throw new SignetError("bad_request", `claim ${k} must be a string or a list of strings`);
  }
  return out;
}

