// What a SCEP request means (RFC 8894 §3.3): enrolment (PKCSReq), renewal (RenewalReq), polling
// (CertPoll/GetCertInitial), GetCert and GetCRL; and the operator's side of manual approval. Every
// certificate goes through the authority's pipeline; this module decides only who may ask and what a
// replayed transaction gets back.
import { sha256hex } from "../ca/digest.js";
import { randomBytes, randomUUID } from "node:crypto";
import type { Authority } from "../ca/authority.js";
import { AUDIT_EVENTS } from "../ca/audit.js";
import { isSignetError, SignetError, type ErrorCode } from "../ca/errors.js";
import type { AuditLog, CertificateRecord, ProvisionerRecord, ProvisionerSource } from "../ca/ports.js";
import { challengeBound, challengeMatches, renewalOf, scepSettings, validateChallengeBinding, type ChallengeBinding, type ScepSettings, type SignOption } from "../ca/provisioners/index.js";
import type { AttestedBinding } from "../ca/attestation/sign-options.js";
import { parseCertificate, parseCsr, verifyCsrSignature, type CertificateInfo, type ParsedCsr } from "../ca/x509/index.js";
import { decryptEnvelope, degenerate, recipientFor, type ContentCipher, type RequestCipher } from "./cms.js";
import { buildCertRep, parseIssuerAndSerial, parseIssuerAndSubject, ScepFailure, type FailInfo, type PkiRequest, type ReplyTo } from "./message.js";
import type { ChallengeRecord, ScepAuthorization, ScepStore, ScepTransactionRecord } from "./ports.js";
import type { KeyObject } from "node:crypto";

export interface RaCredential {
  id: string;
  certDer: Buffer;
  info: CertificateInfo;
  key: KeyObject;
  rejectionSecret: Buffer;
}

export interface RaSource {
  current(): RaCredential;
  all(): readonly RaCredential[];
  /** Re-reads credentials another replica may have issued (rate-limited). */
  reloadSoon(): Promise<void>;
}

export interface WebhookDecision {
  allow: boolean;
  reason?: string;
  /** No decision was made (timeout, unreachable, 5xx): fail closed now, ask again on a retry. */
  transient?: boolean;
}

export interface ScepDeps {
  authority: Authority;
  certificates: { get(serialHex: string): Promise<CertificateRecord | null> };
  provisioners: ProvisionerSource & { list(): Promise<ProvisionerRecord[]> };
  store: ScepStore;
  audit: AuditLog;
  ra: RaSource;
  /** The current full CRL of an issuer (DER), if one is published. */
  crl(issuerId: string): Buffer | null;
  /** Calls a provisioner's webhook; the default uses fetch with the configured timeout. */
  webhook?: (url: string, body: unknown, timeoutMs: number) => Promise<WebhookDecision>;
  clock?: () => Date;
}

/** A request's authorisation that did not come with it: a processing row older than this is taken
 * over by a retry (its replica stopped mid-way). */
const STALE_MS = 120_000;
const CHALLENGE_BYTES = 24;

/** The authority's codes as failInfo (RFC 8894 §3.2.1.4). One table for the whole front end. */
const FAIL_INFO: Record<ErrorCode, FailInfo> = {
  bad_request: "badRequest",
  body_too_large: "badRequest",
  unsupported_media_type: "badRequest",
  not_found: "badCertId",
  bad_csr: "badRequest",
  bad_csr_signature: "badMessageCheck",
  bad_pem: "badRequest",
  bad_serial: "badCertId",
  bad_lifetime: "badRequest",
  bad_policy: "badRequest",
  bad_provisioner: "badRequest",
  bad_revocation_reason: "badRequest",
  bad_ocsp_request: "badRequest",
  bad_crl: "badRequest",
  bad_scep_message: "badMessageCheck",
  bad_scep_signature: "badMessageCheck",
  bad_scep_algorithm: "badAlg",
  bad_challenge: "badRequest",
  forbidden_key: "badRequest",
  forbidden_name: "badRequest",
  forbidden_profile: "badRequest",
  provisioner_disabled: "badRequest",
  blocked: "badRequest",
  unknown_provisioner: "badRequest",
  unknown_certificate: "badCertId",
  already_revoked: "badCertId",
  conflict: "badRequest",
  pending: "badRequest",
  unauthenticated: "badRequest",
  forbidden: "badRequest",
  ca_not_initialized: "badRequest",
  ca_already_initialized: "badRequest",
  root_key_offline: "badRequest",
  passphrase_required: "badRequest",
  bad_passphrase: "badRequest",
  database_locked: "badRequest",
  unreachable: "badRequest",
  config_invalid: "badRequest",
  storage_failed: "badRequest",
  signing_failed: "badRequest",
  internal: "badRequest",
};

/** Codes that are the server's trouble, not the client's: a one-time challenge is given back. */
const SERVER_SIDE = new Set<ErrorCode>(["storage_failed", "signing_failed", "internal", "database_locked", "unreachable"]);

export function failInfoOf(err: unknown): FailInfo {
  return isSignetError(err) ? FAIL_INFO[err.code] : "badRequest";
}

/** The answer is encrypted like the request, but never with single DES: a client that sent DES gets 3DES. */
function answerCipher(c: RequestCipher): ContentCipher {
  return c === "des-cbc" ? "des-ede3-cbc" : c;
}

export { sha256hex };

export interface Answer {
  /** DER CertRep. */
  body: Buffer;
  status: "SUCCESS" | "FAILURE" | "PENDING";
  failInfo?: FailInfo;
  /** Why, for the log (never sent: SCEP has no error text). */
  reason?: string;
  transaction?: ScepTransactionRecord;
}

export class ScepService {
  readonly #d: ScepDeps;
  readonly #settings = new WeakMap<object, ScepSettings>();
  readonly #clock: () => Date;

  constructor(deps: ScepDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  get deps(): Readonly<ScepDeps> {
    return this.#d;
  }

  settingsOf(p: ProvisionerRecord): ScepSettings {
    let s = this.#settings.get(p);
    if (!s) this.#settings.set(p, (s = scepSettings(p.options)));
    return s;
  }

  /** The answer to a parsed PKIOperation. A ScepFailure from parsing is answered by failure(). */
  async handle(p: ProvisionerRecord, req: PkiRequest): Promise<Answer> {
    const settings = this.settingsOf(p);
    const replyTo: ReplyTo = req;
    // Every answer with content is encrypted to the signer's key, which SCEP's key transport needs to be RSA.
    if (req.signer.publicKey.asymmetricKeyType !== "rsa") return this.failure(replyTo, "badAlg", "SCEP answers are encrypted to the request's signer, whose key must be RSA");
    try {
      const inner = await this.#decrypt(req);
      switch (req.messageType) {
        case "PKCSReq":
        case "RenewalReq":
          return await this.#enrol(p, settings, req, inner);
        case "CertPoll":
          return await this.#poll(p, req, inner);
        case "GetCert":
          return await this.#getCert(req, inner);
        case "GetCRL":
          return await this.#getCrl(req, inner);
        default:
          return this.failure(replyTo, "badRequest", `${req.messageType} is not supported (RFC 8894 removed UpdateReq)`);
      }
    } catch (err) {
      if (err instanceof ScepFailure) return this.failure(err.replyTo, err.failInfo, err.message);
      return this.failure(replyTo, failInfoOf(err), err instanceof Error ? err.message : String(err));
    }
  }

  failure(replyTo: ReplyTo, failInfo: FailInfo, reason: string, transaction?: ScepTransactionRecord): Answer {
    const ra = this.#d.ra.current();
    const body = buildCertRep({ replyTo, status: "FAILURE", failInfo, signer: { certDer: ra.certDer, key: ra.key, info: ra.info }, certificates: [ra.certDer] });
    return { body, status: "FAILURE", failInfo, reason, ...(transaction ? { transaction } : {}) };
  }

  #pending(req: PkiRequest, transaction: ScepTransactionRecord): Answer {
    const ra = this.#d.ra.current();
    const body = buildCertRep({ replyTo: req, status: "PENDING", signer: { certDer: ra.certDer, key: ra.key, info: ra.info }, certificates: [ra.certDer] });
    return { body, status: "PENDING", transaction };
  }

  #success(req: PkiRequest, payload: Buffer, transaction?: ScepTransactionRecord): Answer {
    const ra = this.#d.ra.current();
    const body = buildCertRep({
      replyTo: req,
      status: "SUCCESS",
      payload,
      recipientCertDer: req.signer.der,
      cipher: answerCipher(req.envelope.cipher),
      signer: { certDer: ra.certDer, key: ra.key, info: ra.info },
      certificates: [ra.certDer],
    });
    return { body, status: "SUCCESS", ...(transaction ? { transaction } : {}) };
  }

  async #decrypt(req: PkiRequest): Promise<Buffer> {
    const find = () => {
      for (const c of this.#d.ra.all()) {
        const entry = recipientFor(req.envelope, c.info);
        if (entry) return { c, entry };
      }
      return null;
    };
    let hit = find();
    if (!hit) {
      await this.#d.ra.reloadSoon();
      hit = find();
    }
    if (!hit) throw new ScepFailure("badMessageCheck", "the pkcsPKIEnvelope is not encrypted to this server's RA certificate (fetch GetCACert again)", req);
    try {
      return decryptEnvelope(req.envelope, hit.entry, hit.c);
    } catch (err) {
      if (isSignetError(err, "bad_scep_algorithm")) throw new ScepFailure("badAlg", err.message, req);
      throw new ScepFailure("badMessageCheck", "the pkcsPKIEnvelope does not decrypt", req);
    }
  }

  async #enrol(p: ProvisionerRecord, settings: ScepSettings, req: PkiRequest, inner: Buffer): Promise<Answer> {
    let csr: ParsedCsr;
    try {
      csr = parseCsr(inner);
      verifyCsrSignature(csr);
    } catch (err) {
      // The same answer as an envelope that does not decrypt: anything else would tell an attacker
      // who rewrites a recorded envelope whether its CBC padding came out right (a padding oracle).
      return this.failure(req, "badMessageCheck", err instanceof Error ? err.message : "bad CSR");
    }
    const renewal = req.messageType === "RenewalReq";
    // Proof of possession: a new enrolment is signed with the key it asks to be certified.
    if (!renewal && !req.signer.info.spki.equals(csr.spki)) {
      return this.failure(req, "badMessageCheck", "a PKCSReq must be signed with the key of its CSR");
    }
    const keyFingerprint = sha256hex(csr.spki);
    const requestHash = sha256hex(Buffer.concat([Buffer.from(req.messageType), csr.der, renewal ? req.signer.der : Buffer.alloc(0)]));
    const earlier = await this.#d.store.transactions(p.id, req.transactionId);
    if (earlier.some((t) => t.keyFingerprint !== keyFingerprint)) {
      return this.failure(req, "badRequest", "this transactionID belongs to another key");
    }
    const same = earlier.find((t) => t.requestHash === requestHash);
    if (same && !(same.status === "processing" && same.updatedAt.getTime() < this.#clock().getTime() - STALE_MS)) return this.#answerFrom(req, same);
    if (earlier.some((t) => t.status === "pending")) return this.failure(req, "badRequest", "another request of this transaction awaits approval");

    // Who may ask. Nothing is written for a request that is not authorised (beyond its audit event).
    const txId = same?.id ?? randomUUID();
    let auth: ScepAuthorization;
    const offered = csr.challengePassword;
    let spent: ChallengeRecord | null = null;
    let webhookAuthorises = false;
    if (renewal) {
      if (!settings.renewal) return this.failure(req, "badRequest", `provisioner ${p.name} does not accept renewals`);
      const prev = await this.#renewable(p, req.signer.info, req.signer.der);
      if (typeof prev === "string") return this.failure(req, "badRequest", prev);
      auth = { kind: "renewal", previousSerial: prev.serialHex };
    } else if (offered !== undefined && settings.challengeHash !== null && challengeMatches(settings.challengeHash, offered)) {
      auth = { kind: "static" };
    } else if (offered !== undefined && settings.dynamicChallenges && (spent = await this.#d.store.spendChallenge(p.id, sha256hex(offered), txId, this.#clock()))) {
      auth = { kind: "challenge", challengeId: spent.id, binding: spent.binding };
    } else if (settings.webhook) {
      // The webhook (Intune/Jamf-style) is what decides; it alone sees the challenge.
      auth = { kind: "webhook" };
      webhookAuthorises = true;
    } else if (settings.manualApproval && offered === undefined) {
      auth = { kind: "approval" };
    } else {
      const why = offered === undefined ? "no challengePassword" : "wrong, used or expired challengePassword";
      await this.#refused(p, req, "badRequest", why);
      return this.failure(req, "badRequest", `the enrolment is not authorised: ${why}`);
    }

    const claimed = await this.#d.store.claim(
      {
        id: txId,
        provisionerId: p.id,
        transactionId: req.transactionId,
        requestHash,
        keyFingerprint,
        messageType: req.messageType,
        csr: csr.der,
        subject: csr.subject.text,
        names: { dns: csr.sans.dns, ip: csr.sans.ip },
        authorization: auth,
      },
      new Date(this.#clock().getTime() - STALE_MS),
    );
    if (!claimed) {
      // The same request arrived concurrently: answer with what the other one recorded.
      if (spent) await this.#d.store.restoreChallenge(spent.id, txId);
      const now = (await this.#d.store.transactions(p.id, req.transactionId)).find((t) => t.requestHash === requestHash);
      return now ? this.#answerFrom(req, now) : this.failure(req, "badRequest", "the transaction could not be recorded");
    }
    const tx = claimed;

    if (settings.webhook) {
      const decision = await this.#callWebhook(p, settings.webhook, req, csr, webhookAuthorises ? offered : undefined);
      if (!decision.allow) {
        if (spent) await this.#d.store.restoreChallenge(spent.id, tx.id);
        await this.#refused(p, req, "badRequest", `webhook: ${decision.reason ?? "denied"}`, tx.id);
        // A webhook that did not answer is the server's trouble: an identical retry is asked again.
        if (decision.transient) return this.#release(req, tx, `the enrolment webhook did not decide: ${decision.reason ?? "no answer"}`);
        return this.#fail(req, tx, "badRequest", `the enrolment webhook refused: ${decision.reason ?? "denied"}`);
      }
    }
    if (settings.manualApproval && !renewal) {
      const pending = await this.#d.store.update(tx.id, { status: "pending" }, ["processing"]);
      await this.#d.audit.append({
        event: AUDIT_EVENTS.scepRequestPending,
        actor: `scep:${p.name}`,
        target: tx.id,
        data: { provisioner: p.name, transactionId: req.transactionId, subject: csr.subject.text, names: { dns: csr.sans.dns, ip: csr.sans.ip } },
      });
      return this.#pending(req, pending ?? tx);
    }
    return this.#issue(p, tx, req, auth, csr.der, `scep:${p.name}`, spent);
  }

  /** Signs the transaction's CSR and records the outcome. Once the certificate exists nothing is
   * undone: the challenge stays spent and the transaction points at the certificate. */
  async #issue(p: ProvisionerRecord, tx: ScepTransactionRecord, req: PkiRequest | null, auth: ScepAuthorization, csrDer: Buffer, actor: string, spent: ChallengeRecord | null, decidedBy?: string): Promise<Answer> {
    const options: SignOption[] = [];
    let identity: { identity?: string; nodeId?: string } = {};
    if (auth.kind === "challenge") options.push(...challengeBound(auth.binding));
    if (auth.kind === "renewal") {
      const prev = await this.#d.certificates.get(auth.previousSerial);
      if (!prev) return this.#fail(req, tx, "badCertId", "the certificate being renewed is not on record");
      options.push(...renewalOf(prev));
      identity = { ...(prev.identity ? { identity: prev.identity } : {}), ...(prev.nodeId ? { nodeId: prev.nodeId } : {}) };
    }
    let issued: Awaited<ReturnType<Authority["sign"]>>;
    try {
      issued = await this.#d.authority.sign({ csr: csrDer, provisioner: p.name, via: "scep", actor, ...identity, options });
    } catch (err) {
      const serverSide = isSignetError(err) ? SERVER_SIDE.has(err.code) : true;
      if (spent && serverSide) await this.#d.store.restoreChallenge(spent.id, tx.id);
      if (!req) {
        // An approval the server could not carry out stays pending, to be approved again.
        if (serverSide) await this.#d.store.update(tx.id, { status: "pending" }, ["processing"]);
        else await this.#fail(null, tx, failInfoOf(err), err instanceof Error ? err.message : String(err));
        throw err;
      }
      if (serverSide) return this.#release(req, tx, "the certificate could not be issued (server error)");
      const reason = err instanceof Error ? err.message : String(err);
      await this.#refused(p, req, failInfoOf(err), reason, tx.id);
      return this.#fail(req, tx, failInfoOf(err), reason);
    }
    const done = await this.#d.store.update(tx.id, { status: "success", certificateSerial: issued.serialHex, ...(decidedBy ? { decidedBy } : {}) }, ["processing", "pending"]);
    if (!req) {
      if (!done) throw new SignetError("conflict", `request ${tx.id} changed while its certificate was signed`);
      return { body: Buffer.alloc(0), status: "SUCCESS", transaction: done };
    }
    return this.#success(req, degenerate([issued.der, this.#d.authority.intermediate.certDer]), done ?? tx);
  }

  /** Forgets a transaction the server could not complete, so an identical retry is processed anew
   * instead of being answered with a failure that was not the client's. */
  async #release(req: PkiRequest, tx: ScepTransactionRecord, reason: string): Promise<Answer> {
    await this.#d.store.release(tx.id);
    return this.failure(req, "badRequest", reason);
  }

  async #fail(req: PkiRequest | null, tx: ScepTransactionRecord, failInfo: FailInfo, reason: string, cause?: unknown): Promise<Answer> {
    const t = await this.#d.store.update(tx.id, { status: "failure", failInfo, reason }, ["processing", "pending"]);
    if (cause !== undefined && !req) throw cause;
    if (!req) return { body: Buffer.alloc(0), status: "FAILURE", failInfo, reason, ...(t ? { transaction: t } : {}) };
    return this.failure(req, failInfo, reason, t ?? tx);
  }

  async #refused(p: ProvisionerRecord, req: PkiRequest | null, failInfo: FailInfo, reason: string, target?: string): Promise<void> {
    await this.#d.audit.append({
      event: AUDIT_EVENTS.scepRequestRefused,
      actor: `scep:${p.name}`,
      target: target ?? null,
      data: { provisioner: p.name, transactionId: req?.transactionId ?? null, failInfo, reason },
    });
  }

  async #answerFrom(req: PkiRequest, t: ScepTransactionRecord): Promise<Answer> {
    if (t.status === "success" && t.certificateSerial) {
      const cert = await this.#d.certificates.get(t.certificateSerial);
      if (!cert?.der) return this.failure(req, "badCertId", "the transaction's certificate is not on record", t);
      return this.#success(req, degenerate([cert.der, this.#d.authority.intermediate.certDer]), t);
    }
    if (t.status === "failure") return this.failure(req, t.failInfo ?? "badRequest", t.reason ?? "refused earlier", t);
    return this.#pending(req, t);
  }

  /** The certificate a RenewalReq is signed with: Signet's, valid, of this provisioner. A string says why not. */
  async #renewable(p: ProvisionerRecord, info: CertificateInfo, der: Buffer): Promise<CertificateRecord | string> {
    if (!info.issuerDer.equals(this.#d.authority.intermediate.subjectDer)) return "a RenewalReq must be signed with a certificate this CA issued";
    const rec = await this.#d.certificates.get(info.serialHex);
    if (!rec || !rec.der || !rec.der.equals(der)) return "the signing certificate is not one this CA issued";
    if (rec.status !== "valid") return `the signing certificate is ${rec.status}`;
    const now = this.#clock();
    if (rec.notAfter <= now) return "the signing certificate has expired";
    if (rec.provisionerName !== p.name) return `the signing certificate was issued by provisioner ${rec.provisionerName}, not ${p.name}`;
    return rec;
  }

  async #poll(p: ProvisionerRecord, req: PkiRequest, inner: Buffer): Promise<Answer> {
    parseIssuerAndSubject(inner);
    const rows = await this.#d.store.transactions(p.id, req.transactionId);
    const signerKey = sha256hex(req.signer.info.spki);
    const latest = rows.find((t) => t.keyFingerprint === signerKey) ?? rows[0];
    if (!latest) return this.failure(req, "badCertId", "no such transaction");
    // The poll is signed like the request: with the enrolling key, or for a renewal possibly with the
    // certificate being renewed.
    let own = latest.keyFingerprint === signerKey;
    if (!own && latest.authorization.kind === "renewal") {
      const prev = await this.#d.certificates.get(latest.authorization.previousSerial);
      own = prev?.der ? parseCertificate(prev.der).spki.equals(req.signer.info.spki) : false;
    }
    if (!own) return this.failure(req, "badRequest", "a CertPoll must be signed with the transaction's key");
    return this.#answerFrom(req, latest);
  }

  async #getCert(req: PkiRequest, inner: Buffer): Promise<Answer> {
    const ias = parseIssuerAndSerial(inner);
    const cert = ias.issuerDer.equals(this.#d.authority.intermediate.subjectDer) ? await this.#d.certificates.get(ias.serialHex) : null;
    if (!cert?.der) return this.failure(req, "badCertId", "no certificate with that issuer and serial number");
    return this.#success(req, degenerate([cert.der]));
  }

  async #getCrl(req: PkiRequest, inner: Buffer): Promise<Answer> {
    const ias = parseIssuerAndSerial(inner);
    const { intermediate } = this.#d.authority;
    if (!ias.issuerDer.equals(intermediate.subjectDer)) return this.failure(req, "badCertId", "that issuer is not this CA");
    const crl = this.#d.crl(intermediate.id);
    if (!crl) return this.failure(req, "badRequest", "no CRL is published yet");
    return this.#success(req, degenerate([], [crl]));
  }

  async #callWebhook(p: ProvisionerRecord, hook: { url: string; timeoutMs: number }, req: PkiRequest, csr: ParsedCsr, challenge: string | undefined): Promise<WebhookDecision> {
    const body = {
      provisioner: p.name,
      transactionId: req.transactionId,
      messageType: req.messageType,
      challenge: challenge ?? null,
      csr: csr.der.toString("base64"),
      subject: csr.subject.text,
      commonName: csr.subject.commonName ?? null,
      dns: csr.sans.dns,
      ip: csr.sans.ip,
    };
    try {
      return await (this.#d.webhook ?? callWebhook)(hook.url, body, hook.timeoutMs);
    } catch (err) {
      // Fail closed: an unreachable or slow webhook refuses.
      return { allow: false, transient: true, reason: err instanceof Error && err.name === "TimeoutError" ? `no answer in ${hook.timeoutMs} ms` : "the webhook could not be reached" };
    }
  }

  // ---- the operator's side

  /** A one-time challenge password: random, shown once, stored hashed, bound to what it may enrol. */
  async createChallenge(
    p: ProvisionerRecord,
    input: { ttlSeconds: number; binding: Record<string, unknown>; note?: string | undefined; attested?: AttestedBinding },
    actor: string,
  ): Promise<{ id: string; challenge: string; expiresAt: Date; binding: ChallengeBinding }> {
    if (p.type !== "scep") throw new SignetError("bad_request", `provisioner ${p.name} is of type ${p.type}; challenges belong to SCEP provisioners`);
    if (!this.settingsOf(p).dynamicChallenges) throw new SignetError("conflict", `provisioner ${p.name} does not accept one-time challenges (options.dynamicChallenges)`);
    const binding: ChallengeBinding = { ...validateChallengeBinding(input.binding), ...(input.attested ? { attested: input.attested } : {}) };
    const secret = randomBytes(CHALLENGE_BYTES).toString("base64url");
    const id = randomUUID();
    const now = this.#clock();
    const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000);
    await this.#d.store.createChallenge({ id, provisionerId: p.id, secretHash: sha256hex(secret), binding, note: input.note ?? null, createdBy: actor, createdAt: now, expiresAt });
    await this.#d.audit.append({ event: AUDIT_EVENTS.scepChallengeCreated, actor, target: id, data: { provisioner: p.name, expiresAt: expiresAt.toISOString(), binding, note: input.note ?? null } });
    return { id, challenge: secret, expiresAt, binding };
  }

  /** Approves a PENDING request: the certificate is issued now; the client's next poll receives it. */
  async approve(id: string, actor: string): Promise<ScepTransactionRecord> {
    const { tx: pending, p } = await this.#pendingTx(id);
    // Take the request before signing, so a concurrent approve or reject cannot also act on it.
    const tx = await this.#d.store.update(pending.id, { status: "processing", decidedBy: actor }, ["pending"]);
    if (!tx) throw new SignetError("conflict", `request ${id} is no longer pending`);
    await this.#d.audit.append({ event: AUDIT_EVENTS.scepRequestApproved, actor, target: id, data: { provisioner: p.name, transactionId: tx.transactionId, subject: tx.subject } });
    const a = await this.#issue(p, tx, null, tx.authorization, tx.csr, actor, null, actor);
    if (a.status !== "SUCCESS") throw new SignetError("conflict", `approved, but the pipeline refused the certificate: ${a.reason ?? a.failInfo}`);
    return a.transaction!;
  }

  async reject(id: string, actor: string, reason: string | undefined): Promise<ScepTransactionRecord> {
    const { tx, p } = await this.#pendingTx(id);
    const why = reason ?? "rejected by an operator";
    const t = await this.#d.store.update(tx.id, { status: "failure", failInfo: "badRequest", reason: why, decidedBy: actor }, ["pending"]);
    if (!t) throw new SignetError("conflict", `request ${id} is no longer pending`);
    // A rejected enrolment has used its one-time challenge, if it had one: it is not given back.
    await this.#d.audit.append({ event: AUDIT_EVENTS.scepRequestRejected, actor, target: id, data: { provisioner: p.name, transactionId: tx.transactionId, subject: tx.subject, reason: why } });
    return t;
  }

  async #pendingTx(id: string): Promise<{ tx: ScepTransactionRecord; p: ProvisionerRecord }> {
    const tx = /^[0-9a-f-]{36}$/.test(id) ? await this.#d.store.transaction(id) : null;
    if (!tx) throw new SignetError("not_found", `no SCEP request ${JSON.stringify(id.slice(0, 64))}`);
    if (tx.status !== "pending") throw new SignetError("conflict", `request ${id} is ${tx.status}, not pending`);
    const p = await this.#provisionerById(tx.provisionerId);
    return { tx, p };
  }

  async #provisionerById(id: string): Promise<ProvisionerRecord> {
    const p = (await this.#d.provisioners.list()).find((x) => x.id === id);
    if (!p) throw new SignetError("unknown_provisioner", "the request's provisioner no longer exists");
    return p;
  }
}

/** POSTs the enrolment to a webhook; 2xx with {"allow": true} allows, anything else refuses. */
export async function callWebhook(url: string, body: unknown, timeoutMs: number): Promise<WebhookDecision> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
  const text = await r.text();
  if (r.status < 200 || r.status >= 300) return { allow: false, reason: `the webhook answered HTTP ${r.status}`, ...(r.status >= 500 ? { transient: true } : {}) };
  try {
    const j = JSON.parse(text) as { allow?: unknown; reason?: unknown };
    return { allow: j.allow === true, ...(typeof j.reason === "string" ? { reason: j.reason.slice(0, 200) } : {}) };
  } catch {
    return { allow: false, reason: "the webhook's answer is not JSON" };
  }
}
