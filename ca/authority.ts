// The one issuance pipeline. Every certificate, from every front end, goes through Authority.sign:
//   CSR parsed and its signature verified → provisioner's sign options (validators, modifiers,
//   enforcers) → key policy → name policy (authority-wide, then the provisioner's) → profile and
//   validity → intent recorded with a reserved serial → signed → stored → audited.
// The audit events are written in the same transactions as the intent and the stored certificate, so
// a crash can leave a pending intent (visible, audited) but never a certificate that exists unrecorded.
import { createHash, randomBytes } from "node:crypto";
import { AUDIT_EVENTS } from "./audit.js";
import { inProcessCsrVerifier, type CsrVerifier } from "./csr-verifier.js";
import { SignetError, isSignetError } from "./errors.js";
import { compileNamePolicy, type CompiledNamePolicy, type NamePolicy } from "./policy/index.js";
import {
  BLOCK_KINDS,
  SerialConflict,
  type AuthorityPolicySource,
  type BlockList,
  type BlockTarget,
  type EnrolmentBlock,
  type CertificateIntent,
  type CertificateReader,
  type CertificateRecord,
  type IssuanceLedger,
  type ProvisionerRecord,
  type ProvisionerSource,
} from "./ports.js";
import { ProfileExtensions, type IssuerUrls, type ProfileName } from "./profiles.js";
import { behaviourFor, validateText, type Draft, type IssueRequest, type SignContext, type SignOption } from "./provisioners/index.js";
import { MAX_COMMON_NAME } from "./provisioners/common.js";
import { isProvisionerName } from "./provisioners/validate.js";
import { parseRevocationReason, reasonName } from "./revocation.js";
import type { Signer } from "./signer.js";
import {
  assembleCertificate,
  describePublicKey,
  assertKeyAllowed,
  buildTbsCertificate,
  encodeName,
  keyIdentifier,
  parseCsr,
  subjectAltName,
  subjectKeyIdentifierExtension as skiExtension,
  signetRoles,
  toPem,
  type ParsedCsr,
} from "./x509/index.js";

/** A CA certificate the authority signs with, with everything the hot path needs pre-computed. */
export interface IssuerContext {
  /** Subject key identifier, hex: the issuer's id in storage. */
  id: string;
  certDer: Buffer;
  subjectDer: Buffer;
  subjectKeyId: Buffer;
  notAfter: Date;
  /** Absent for an offline root. */
  signer: Signer | null;
  urls: IssuerUrls;
}

export interface LifetimeLimits {
  minSeconds: number;
  maxSeconds: number;
  backdateSeconds: number;
}

/** Hooks for metrics; ca/ does not know Prometheus. */
export interface AuthorityObserver {
  issued(profile: ProfileName, provisioner: string, seconds: number): void;
  refused(code: string): void;
}

export interface AuthorityDeps {
  intermediate: IssuerContext;
  root: IssuerContext;
  ledger: IssuanceLedger;
  certificates: CertificateReader;
  provisioners: ProvisionerSource;
  authorityPolicy: AuthorityPolicySource;
  lifetime: LifetimeLimits;
  clock?: () => Date;
  observer?: AuthorityObserver;
  /** Where CSR signatures are verified (default: in this thread). */
  csrVerifier?: CsrVerifier;
  /** Nodes, identities and accounts that may not enrol (default: none; the ledger enforces them too). */
  blocks?: BlockList;
}

export interface RevokeOptions {
  reason?: unknown;
  /** ISO 8601 or Date: when the key is known or suspected to have been compromised. */
  invalidityDate?: unknown;
}

export interface BulkRevocationResult {
  block: EnrolmentBlock;
  revoked: CertificateRecord[];
}

export interface IssuedCertificate {
  serialHex: string;
  der: Buffer;
  pem: string;
  /** The leaf followed by the issuing CA, PEM. */
  chainPem: string;
  notBefore: Date;
  notAfter: Date;
  intent: CertificateIntent;
}

interface Plan {
  issuer: IssuerContext & { signer: Signer };
  intent: CertificateIntent;
  tbsParts: { subjectDer: Buffer; spki: Buffer; extensions: Buffer[] };
}

const EMPTY_NAME = Buffer.from([0x30, 0x00]);

/** A request without a CSR (IssueRequest.provenKey): the key and nothing else. */
function provenKeyRequest(spki: Buffer): ParsedCsr {
  return {
    der: Buffer.alloc(0),
    info: Buffer.alloc(0),
    subjectDer: EMPTY_NAME,
    subject: { attrs: [], text: "" },
    spki,
    publicKey: describePublicKey(spki, "bad_csr"),
    sans: { dns: [], ip: [], uri: [], email: [], unsupported: [] },
    extensionOids: [],
    signatureAlgorithmOid: "",
    signature: Buffer.alloc(0),
  };
}
const SERIAL_ATTEMPTS = 3;

export class Authority {
  readonly #deps: AuthorityDeps;
  readonly #clock: () => Date;
  readonly #profiles = new Map<string, ProfileExtensions>();
  readonly #compiled = new WeakMap<NamePolicy, CompiledNamePolicy>();
  readonly #intermediatePem: string;

  constructor(deps: AuthorityDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
    this.#intermediatePem = toPem("CERTIFICATE", deps.intermediate.certDer);
  }

  get intermediate(): IssuerContext {
    return this.#deps.intermediate;
  }

  get root(): IssuerContext {
    return this.#deps.root;
  }

  /** The authority-wide lifetime floor and cap, for front ends that vet a requested validity early. */
  get lifetime(): Readonly<LifetimeLimits> {
    return this.#deps.lifetime;
  }

  async sign(request: IssueRequest): Promise<IssuedCertificate> {
    const started = performance.now();
    try {
      const now = this.#clock();
      const csr = request.provenKey ? provenKeyRequest(request.provenKey.spki) : await this.#parseCsr(request.csr);
      const provisioner = await this.#loadProvisioner(request.provisioner, request.via);
      const ctx: SignContext = { csr, request, provisioner, now };
      const draft = this.#applySignOptions(ctx, [...behaviourFor(provisioner).authorizeSign(ctx), ...(request.options ?? [])]);
      this.#settleIdentity(draft);
      this.#checkBlocks(draft, request);
      assertKeyAllowed(csr.publicKey);
      await this.#checkNamePolicy(draft, provisioner);
      const plan = this.#plan(draft, csr, ctx, request.actor);
      await this.#recordIntent(plan, provisioner);
      const der = await this.#signCertificate(plan);
      await this.#store(plan, der);
      this.#deps.observer?.issued(draft.profile, provisioner.name, (performance.now() - started) / 1000);
      const pem = toPem("CERTIFICATE", der);
      return {
        serialHex: plan.intent.serialHex,
        der,
        pem,
        chainPem: plan.issuer.id === this.#deps.intermediate.id ? pem + this.#intermediatePem : pem + toPem("CERTIFICATE", plan.issuer.certDer),
        notBefore: plan.intent.notBefore,
        notAfter: plan.intent.notAfter,
        intent: plan.intent,
      };
    } catch (err) {
      this.#deps.observer?.refused(isSignetError(err) ? err.code : "internal");
      throw err;
    }
  }

  async revoke(serialHex: string, actor: string, opts: RevokeOptions = {}): Promise<CertificateRecord> {
    const serial = normaliseSerial(serialHex);
    const code = parseRevocationReason(opts.reason ?? "unspecified");
    const at = this.#clock();
    const invalidityDate = parseInvalidityDate(opts.invalidityDate, at);
    const existing = await this.#deps.certificates.get(serial);
    if (!existing) throw new SignetError("unknown_certificate", `no certificate with serial ${serial}`);
    if (existing.status === "revoked") throw new SignetError("already_revoked", `certificate ${serial} was already revoked at ${existing.revokedAt?.toISOString()}`);
    if (existing.status !== "valid") throw new SignetError("conflict", `certificate ${serial} is ${existing.status}, not valid: there is nothing to revoke`);
    const revocation = { reason: code, at, invalidityDate, actor };
    const updated = await this.#deps.ledger.revoke(serial, revocation, revocationAudit(existing, revocation, null));
    if (!updated) throw new SignetError("already_revoked", `certificate ${serial} was revoked concurrently`);
    return updated;
  }

  /** Revokes every unexpired certificate of a node, identity or ACME account and blocks it from
   * enrolling again until unblocked: one transaction, so a crash leaves all of it or none. */
  async revokeAndBlock(target: BlockTarget, actor: string, opts: RevokeOptions & { note?: string } = {}): Promise<BulkRevocationResult> {
    const t = checkBlockTarget(target);
    const code = parseRevocationReason(opts.reason ?? "unspecified");
    const at = this.#clock();
    const invalidityDate = parseInvalidityDate(opts.invalidityDate, at);
    const note = opts.note === undefined ? null : validateText(opts.note, "note", 512);
    const revocation = { reason: code, at, invalidityDate, actor };
    const blockReason = note ?? `revoked (${reasonName(code)}) by ${actor}`;
    return this.#deps.ledger.revokeAndBlock(t, revocation, blockReason, (c) => revocationAudit(c, revocation, t, note), {
      event: AUDIT_EVENTS.enrolmentBlocked,
      actor,
      target: `${t.kind}:${t.value}`,
      data: { kind: t.kind, value: t.value, reason: blockReason, revocationReason: reasonName(code) },
    });
  }

  async unblock(target: BlockTarget, actor: string): Promise<EnrolmentBlock> {
    const t = checkBlockTarget(target);
    const lifted = await this.#deps.ledger.unblock(t, {
      event: AUDIT_EVENTS.enrolmentUnblocked,
      actor,
      target: `${t.kind}:${t.value}`,
      data: { kind: t.kind, value: t.value },
    });
    if (!lifted) throw new SignetError("not_found", `${t.kind} ${JSON.stringify(t.value)} is not blocked`);
    return lifted;
  }

  /** Checks names against the authority-wide and the provisioner's name policies without issuing
   * anything (front ends vet identifiers before they promise them, e.g. ACME newOrder). Throws
   * forbidden_name. */
  async checkNames(provisioner: ProvisionerRecord, names: { dns?: string[]; ip?: string[] }): Promise<void> {
    const all = { dns: names.dns ?? [], ip: names.ip ?? [], uri: [], email: [] };
    this.#compile(await this.#deps.authorityPolicy.get(), "authority").check(all);
    this.#compile(provisioner.policy, `provisioner ${provisioner.name}`).check(all);
  }

  // 1. The CSR: parsed strictly, its self-signature verified (proof of possession).
  async #parseCsr(input: Buffer | string): Promise<ParsedCsr> {
    const csr = parseCsr(input);
    await (this.#deps.csrVerifier ?? inProcessCsrVerifier).verify(csr);
    if (csr.sans.unsupported.length > 0) {
      throw new SignetError("bad_csr", `the CSR asks for subject alternative names of a type Signet does not issue: ${csr.sans.unsupported.join(", ")}`);
    }
    return csr;
  }

  // 2. The provisioner.
  async #loadProvisioner(name: string, via: ProvisionerRecord["type"]): Promise<ProvisionerRecord> {
    const p = isProvisionerName(name) ? await this.#deps.provisioners.get(name) : null;
    if (!p) throw new SignetError("unknown_provisioner", `no provisioner named ${JSON.stringify(name)}`);
    if (!p.enabled) throw new SignetError("provisioner_disabled", `provisioner ${name} is disabled`);
    if (p.type !== via) {
      throw new SignetError("forbidden", `provisioner ${name} is of type ${p.type} and issues only through its own front end, not through ${via}`);
    }
    return p;
  }

  // 3. Sign options: validators check the request, modifiers shape the draft, enforcers check it.
  #applySignOptions(ctx: SignContext, options: SignOption[]): Draft {
    const { csr, provisioner } = ctx;
    const draft: Draft = {
      commonName: csr.subject.commonName ?? null,
      names: { dns: [...csr.sans.dns], ip: [...csr.sans.ip], uri: [...csr.sans.uri], email: [...csr.sans.email] },
      spiffeId: null,
      roles: [],
      profile: provisioner.profile,
      lifetimeSeconds: provisioner.defaultLifetimeSeconds,
      identity: null,
      nodeId: null,
    };
    for (const o of options) if (o.kind === "validator") o.validate(ctx);
    for (const o of options) if (o.kind === "modifier") o.modify(draft, ctx);
    for (const o of options) if (o.kind === "enforcer") o.enforce(draft, ctx);
    return draft;
  }

  // The SPIFFE ID is the one spiffe:// URI SAN (X509-SVID allows exactly one); the recorded identity
  // defaults to it, else the CN, else the first name.
  #settleIdentity(draft: Draft): void {
    if (draft.commonName !== null) draft.commonName = validateText(draft.commonName, "the subject common name", MAX_COMMON_NAME);
    draft.names.dns = [...new Set(draft.names.dns.map((d) => d.toLowerCase()))];
    if (draft.spiffeId !== null && !draft.names.uri.includes(draft.spiffeId)) draft.names.uri.push(draft.spiffeId);
    const spiffe = draft.names.uri.filter((u) => u.slice(0, 9).toLowerCase() === "spiffe://");
    if (spiffe.length > 1) {
      throw new SignetError("bad_request", `a certificate carries at most one SPIFFE ID; the request has ${spiffe.length}: ${spiffe.join(", ")}`);
    }
    draft.spiffeId = spiffe[0] ?? null;
    const first = draft.names.dns[0] ?? draft.names.ip[0] ?? draft.names.email[0] ?? draft.names.uri[0] ?? null;
    if (draft.commonName === null && first === null) {
      throw new SignetError("bad_request", "the certificate would carry no name: the CSR has neither a subject common name nor subject alternative names");
    }
    draft.identity ??= draft.spiffeId ?? draft.commonName ?? first;
  }

  // The node, identity or account may be blocked (revoke --node and friends).
  #checkBlocks(draft: Draft, request: IssueRequest): void {
    const block = this.#deps.blocks?.find({ nodeId: draft.nodeId, identity: draft.identity, spiffeId: draft.spiffeId, accountId: request.accountId ?? null });
    if (block) throw blockedError(block);
  }

  // 4. Name policy: authority-wide, then the provisioner's. Deny wins in each.
  async #checkNamePolicy(draft: Draft, provisioner: ProvisionerRecord): Promise<void> {
    const cn = draft.commonName;
    const cnIsName =
      cn !== null &&
      (draft.names.dns.includes(cn.toLowerCase()) || draft.names.ip.includes(cn) || draft.names.email.includes(cn) || draft.names.uri.includes(cn));
    const names = { ...draft.names, commonName: cn !== null && !cnIsName ? cn : undefined };
    this.#compile(await this.#deps.authorityPolicy.get(), "authority").check(names);
    this.#compile(provisioner.policy, `provisioner ${provisioner.name}`).check(names);
  }

  #compile(policy: NamePolicy, label: string): CompiledNamePolicy {
    let c = this.#compiled.get(policy);
    if (!c) {
      c = compileNamePolicy(policy, label);
      this.#compiled.set(policy, c);
    }
    return c;
  }

  // 5. Profile, issuer, validity, extensions, serial.
  #plan(draft: Draft, csr: ParsedCsr, ctx: SignContext, actor: string): Plan {
    const { lifetime } = this.#deps;
    const issuer = draft.profile === "intermediate" ? this.#deps.root : this.#deps.intermediate;
    if (!issuer.signer) throw new SignetError("root_key_offline", "issuing an intermediate needs the root key, which is offline");
    if (!Number.isInteger(draft.lifetimeSeconds) || draft.lifetimeSeconds < lifetime.minSeconds) {
      throw new SignetError("bad_lifetime", `lifetime must be at least ${lifetime.minSeconds}s`, { detail: { requested: draft.lifetimeSeconds, min: lifetime.minSeconds } });
    }
    if (draft.lifetimeSeconds > lifetime.maxSeconds) {
      throw new SignetError("bad_lifetime", `lifetime ${draft.lifetimeSeconds}s exceeds the authority's cap of ${lifetime.maxSeconds}s`, { detail: { requested: draft.lifetimeSeconds, max: lifetime.maxSeconds } });
    }
    const nowMs = Math.floor(ctx.now.getTime() / 1000) * 1000;
    const notBefore = new Date(nowMs - lifetime.backdateSeconds * 1000);
    // A certificate never outlives its issuer.
    const notAfter = new Date(Math.min(nowMs + draft.lifetimeSeconds * 1000, issuer.notAfter.getTime()));
    if (notAfter.getTime() - nowMs < lifetime.minSeconds * 1000) {
      throw new SignetError("bad_lifetime", `the issuing CA expires at ${issuer.notAfter.toISOString()}, too soon for a ${lifetime.minSeconds}s certificate`);
    }
    const ski = skiOf(csr);
    const subjectDer = draft.commonName === null ? EMPTY_NAME : encodeName([{ type: "CN", value: draft.commonName }]);
    const extensions = [...this.#profileExtensions(issuer).static(draft.profile, csr.publicKey.type), skiExtension(ski)];
    const hasSans = draft.names.dns.length + draft.names.ip.length + draft.names.uri.length + draft.names.email.length > 0;
    // RFC 5280 §4.2.1.6: with an empty subject the SAN extension is critical.
    if (hasSans) extensions.push(subjectAltName(draft.names, draft.commonName === null));
    if (draft.roles.length > 0) extensions.push(signetRoles(draft.roles));
    return {
      issuer: issuer as IssuerContext & { signer: Signer },
      tbsParts: { subjectDer, spki: csr.spki, extensions },
      intent: {
        serialHex: "",
        issuerId: issuer.id,
        subject: draft.commonName === null ? "" : `CN=${escapeRdn(draft.commonName)}`,
        commonName: draft.commonName,
        names: draft.names,
        spiffeId: draft.spiffeId,
        roles: draft.roles,
        profile: draft.profile,
        provisionerId: ctx.provisioner.id,
        provisionerName: ctx.provisioner.name,
        identity: draft.identity,
        nodeId: draft.nodeId,
        notBefore,
        notAfter,
        keyAlgorithm: csr.publicKey.name,
        subjectKeyId: ski.toString("hex"),
        requestedBy: actor,
        accountId: ctx.request.accountId ?? null,
      },
    };
  }

  #profileExtensions(issuer: IssuerContext): ProfileExtensions {
    let p = this.#profiles.get(issuer.id);
    if (!p) {
      p = new ProfileExtensions(issuer.subjectKeyId, issuer.urls);
      this.#profiles.set(issuer.id, p);
    }
    return p;
  }

  // 6. Reserve a serial and record what is about to be signed, before the key is used.
  async #recordIntent(plan: Plan, provisioner: ProvisionerRecord): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      plan.intent.serialHex = newSerialHex();
      try {
        await this.#deps.ledger.recordIntent(plan.intent, {
          event: AUDIT_EVENTS.certificateIntent,
          actor: plan.intent.requestedBy,
          target: plan.intent.serialHex,
          data: intentAuditData(plan.intent, provisioner),
        });
        return;
      } catch (err) {
        if (err instanceof SerialConflict && attempt < SERIAL_ATTEMPTS) continue;
        if (isSignetError(err)) throw err;
        throw new SignetError("storage_failed", "the certificate request could not be recorded; nothing was signed", { cause: err });
      }
    }
  }

  // 7. Sign.
  async #signCertificate(plan: Plan): Promise<Buffer> {
    const { issuer, intent, tbsParts } = plan;
    try {
      const tbs = buildTbsCertificate({
        serial: Buffer.from(intent.serialHex, "hex"),
        signatureAlgorithm: issuer.signer.signatureAlgorithm.algorithmIdentifier,
        issuerNameDer: issuer.subjectDer,
        notBefore: intent.notBefore,
        notAfter: intent.notAfter,
        subjectNameDer: tbsParts.subjectDer,
        spki: tbsParts.spki,
        extensions: tbsParts.extensions,
      });
      const signature = await issuer.signer.sign(tbs);
      return assembleCertificate(tbs, issuer.signer.signatureAlgorithm.algorithmIdentifier, signature);
    } catch (err) {
      await this.#fail(plan, "signing failed");
      throw new SignetError("signing_failed", "the CA could not sign the certificate", { cause: err });
    }
  }

  // 8. Store the certificate and its audit event. If this fails the signed bytes are dropped: a
  // certificate nobody recorded is never handed out.
  async #store(plan: Plan, der: Buffer): Promise<void> {
    const fingerprint = createHash("sha256").update(der).digest("hex");
    try {
      await this.#deps.ledger.recordIssued(plan.intent.serialHex, der, fingerprint, {
        event: AUDIT_EVENTS.certificateIssued,
        actor: plan.intent.requestedBy,
        target: plan.intent.serialHex,
        data: { serial: plan.intent.serialHex, fingerprint, notAfter: plan.intent.notAfter },
      });
    } catch (err) {
      // Revoked while it was being signed (its node or identity was blocked): the row says so already.
      if (isSignetError(err, "blocked")) throw err;
      await this.#fail(plan, "storing the signed certificate failed");
      throw new SignetError("storage_failed", "the certificate could not be stored, so it was discarded; retry the request", { cause: err });
    }
  }

  async #fail(plan: Plan, reason: string): Promise<void> {
    await this.#deps.ledger
      .recordFailure(plan.intent.serialHex, reason, {
        event: AUDIT_EVENTS.certificateFailed,
        actor: plan.intent.requestedBy,
        target: plan.intent.serialHex,
        data: { serial: plan.intent.serialHex, reason },
      })
      .catch(() => undefined); // the intent stays pending and visible; nothing more can be done here
  }
}

/** The audit event of one revocation; the live feed, delta CRLs and other replicas read these. */
function revocationAudit(c: CertificateRecord, r: { reason: number; at: Date; invalidityDate: Date | null; actor: string }, batch: BlockTarget | null, note: string | null = null) {
  return {
    event: AUDIT_EVENTS.certificateRevoked,
    actor: r.actor,
    target: c.serialHex,
    data: {
      serial: c.serialHex,
      issuerId: c.issuerId,
      reason: reasonName(r.reason),
      reasonCode: r.reason,
      revokedAt: r.at,
      invalidityDate: r.invalidityDate,
      identity: c.identity,
      spiffeId: c.spiffeId,
      nodeId: c.nodeId,
      notAfter: c.notAfter,
      ...(batch ? { batch: `${batch.kind}:${batch.value}` } : {}),
      ...(note ? { note } : {}),
    },
  };
}

export function blockedError(b: EnrolmentBlock): SignetError {
  return new SignetError(
    "blocked",
    `${b.kind} ${JSON.stringify(b.value)} is blocked from enrolment since ${b.createdAt.toISOString()} (${b.reason}); an operator can lift it with: signet unblock --${b.kind} ${b.value}`,
    { detail: { kind: b.kind, value: b.value } },
  );
}

function checkBlockTarget(t: BlockTarget): BlockTarget {
  if (!t || !(BLOCK_KINDS as readonly string[]).includes(t.kind)) {
    throw new SignetError("bad_request", `a block is on one of ${BLOCK_KINDS.join(", ")}`);
  }
  return { kind: t.kind, value: validateText(t.value, t.kind, 1024) };
}

function parseInvalidityDate(v: unknown, now: Date): Date | null {
  if (v === undefined || v === null) return null;
  const d = v instanceof Date ? v : typeof v === "string" && /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new SignetError("bad_request", `invalidityDate ${JSON.stringify(v)} is not an ISO 8601 date-time`);
  if (d.getTime() > now.getTime() + 60_000) throw new SignetError("bad_request", "invalidityDate lies in the future");
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

function intentAuditData(intent: CertificateIntent, provisioner: ProvisionerRecord): Record<string, unknown> {
  return {
    serial: intent.serialHex,
    issuer: intent.issuerId,
    provisioner: provisioner.name,
    profile: intent.profile,
    subject: intent.subject,
    names: intent.names,
    spiffeId: intent.spiffeId,
    roles: intent.roles,
    identity: intent.identity,
    nodeId: intent.nodeId,
    ...(intent.accountId ? { accountId: intent.accountId } : {}),
    notBefore: intent.notBefore,
    notAfter: intent.notAfter,
    keyAlgorithm: intent.keyAlgorithm,
  };
}

function skiOf(csr: ParsedCsr): Buffer {
  return keyIdentifier(csr.spki);
}

/** 128 random bits, positive, with a non-zero first byte so the DER INTEGER is always 16 octets. */
export function newSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) || 0x01;
  return b.toString("hex");
}

export function normaliseSerial(input: string): string {
  const s = input.trim().toLowerCase().replace(/^0x/, "").replace(/:/g, "");
  if (!/^[0-9a-f]{1,40}$/.test(s)) throw new SignetError("bad_serial", `serial ${JSON.stringify(input)} is not 1-40 hex digits`);
  return s.length % 2 === 1 ? `0${s}` : s;
}

function escapeRdn(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, "\\$1");
}
