// The OCSP responder (RFC 6960, profiled by RFC 5019). Every answer is signed ahead of the request
// that needs it and kept in memory: the common request (one certificate, no nonce) costs a parse and
// two map lookups. A certificate's status is read from storage once and then kept; revocations are
// pushed in (revoked()), re-signing that certificate's cached answers at once, and a periodic
// refresh() re-signs answers at half their validity, so nothing served is ever close to stale.
// Requests with a nonce, or for several certificates, are signed on demand from the cached
// SingleResponses (the nonce makes each answer unique).
import { createHash } from "node:crypto";
import type { IssuerContext } from "./authority.js";
import type { Signer } from "./signer.js";
import {
  assembleOcspResponse,
  buildResponseData,
  encodeSingleResponse,
  ocspErrorResponse,
  parseOcspRequest,
  responderKeyHash,
  type CertIdHash,
  type OcspCertId,
  type OcspCertStatus,
  type OcspRequest,
} from "./x509/ocsp.js";
import { parseCertificate, subjectPublicKeyBytes } from "./x509/index.js";

/** What storage knows about one certificate, as OCSP needs it. */
export interface CertificateStatus {
  serialHex: string;
  issuerId: string;
  /** Only signed certificates are "good"; pending and failed intents answer unknown. */
  status: "good" | "revoked" | "unknown";
  revokedAt: Date | null;
  reason: number | null;
  notAfter: Date;
}

export interface CertificateStatusSource {
  /** Null when no certificate with this serial was ever issued. */
  statusOf(serialHex: string): Promise<CertificateStatus | null>;
}

/** A delegated responder: a certificate with id-kp-OCSPSigning and id-pkix-ocsp-nocheck, issued by
 * the CA it answers for, and its key. */
export interface ResponderCredentials {
  signer: Signer;
  certDer: Buffer;
  notAfter: Date;
}

export interface OcspAnswer {
  body: Buffer;
  /** Cacheable by HTTP caches (RFC 5019 §6): a signed, nonce-free answer. */
  cacheable: boolean;
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Quoted, for the ETag header. */
  etag?: string;
  /** Pre-formatted HTTP dates of thisUpdate and nextUpdate. */
  lastModifiedHttp?: string;
  expiresHttp?: string;
  outcome: "cached" | "signed" | "malformed" | "unauthorized" | "unavailable";
}

export interface OcspResponderOptions {
  issuers: IssuerContext[];
  source: CertificateStatusSource;
  /** The delegated responder for an issuer, or null to sign with the CA key itself (RFC 6960 §4.2.2.2 allows both). */
  credentials: (issuerId: string) => ResponderCredentials | null;
  /** nextUpdate - thisUpdate of a good or revoked answer. */
  validitySeconds: number;
  /** How long an "unknown" answer is kept (and valid): a certificate issued by another replica may appear. */
  unknownSeconds?: number;
  /** Most certificates kept in memory; the oldest-loaded are dropped beyond it. */
  maxEntries?: number;
  /** Most unknown serials kept (with their signed "unknown" answers): anyone can ask about any
   * serial, so these are bounded apart from the certificates Signet issued. */
  maxUnknown?: number;
  clock?: () => Date;
}

interface IssuerEntry {
  issuer: IssuerContext & { signer: Signer };
  nameHash: Buffer;
}

interface Signed {
  single: Buffer;
  body: Buffer;
  thisUpdate: Date;
  nextUpdate: Date;
  refreshAt: number;
  etag: string;
  lastModifiedHttp: string;
  expiresHttp: string;
}

interface Entry {
  status: CertificateStatus | null;
  /** ms; for unknown serials, when to ask storage again. */
  recheckAt: number;
  /** Answers keyed by the CertID's exact bytes (clients differ in hash algorithm and NULL params). */
  signed: Map<string, { certId: OcspCertId; answer: Signed }>;
}

const HASHES: CertIdHash[] = ["sha1", "sha256", "sha384", "sha512"];
const MALFORMED = ocspErrorResponse("malformedRequest");
const UNAUTHORIZED = ocspErrorResponse("unauthorized");
const TRY_LATER = ocspErrorResponse("tryLater");
const INTERNAL_ERROR = ocspErrorResponse("internalError");

export class OcspResponder {
  readonly #opts: Required<Omit<OcspResponderOptions, "issuers">>;
  /** "hash:issuerKeyHashHex" → issuer */
  readonly #issuers = new Map<string, IssuerEntry>();
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<Entry>>();
  /** The serials whose entry is unknown, oldest first. */
  readonly #unknown = new Set<string>();
  /** Responder identity per signer, computed once per credentials object. */
  readonly #keyHashes = new WeakMap<object, Buffer>();
  readonly stats = { cached: 0, signed: 0, loads: 0 };

  constructor(opts: OcspResponderOptions) {
    this.#opts = {
      source: opts.source,
      credentials: opts.credentials,
      validitySeconds: opts.validitySeconds,
      unknownSeconds: opts.unknownSeconds ?? 60,
      maxEntries: opts.maxEntries ?? 200_000,
      maxUnknown: opts.maxUnknown ?? 20_000,
      clock: opts.clock ?? (() => new Date()),
    };
    for (const issuer of opts.issuers) {
      if (!issuer.signer) continue; // an offline root answers nothing
      const cert = parseCertificate(issuer.certDer);
      const keyBytes = subjectPublicKeyBytes(cert.spki);
      for (const h of HASHES) {
        const keyHash = createHash(h).update(keyBytes).digest("hex");
        this.#issuers.set(`${h}:${keyHash}`, { issuer: issuer as IssuerEntry["issuer"], nameHash: createHash(h).update(issuer.subjectDer).digest() });
      }
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Answers a DER OCSPRequest. Never throws: malformed input gets malformedRequest. */
  async respond(der: Buffer): Promise<OcspAnswer> {
    let req: OcspRequest;
    try {
      req = parseOcspRequest(der);
    } catch {
      return { body: MALFORMED, cacheable: false, outcome: "malformed" };
    }
    const issuers: IssuerEntry[] = [];
    for (const id of req.certIds) {
      const e = this.#issuers.get(`${id.hash}:${id.issuerKeyHash.toString("hex")}`);
      if (!e || !e.nameHash.equals(id.issuerNameHash)) return { body: UNAUTHORIZED, cacheable: false, outcome: "unauthorized" };
      issuers.push(e);
    }
    const now = this.#opts.clock().getTime();
    try {
      if (req.certIds.length === 1 && req.nonceExtension === null) {
        const id = req.certIds[0]!;
        const hit = this.#entries.get(id.serialHex)?.signed.get(id.der.toString("latin1"));
        if (hit && now < hit.answer.refreshAt) {
          this.stats.cached++;
          return answerOf(hit.answer, "cached");
        }
        const answer = await this.#signOne(issuers[0]!, id, now);
        return answerOf(answer, "signed");
      }
      // Several certificates or a nonce: one fresh signature over the cached SingleResponses.
      const singles: Buffer[] = [];
      for (let i = 0; i < req.certIds.length; i++) {
        const id = req.certIds[i]!;
        const hit = this.#entries.get(id.serialHex)?.signed.get(id.der.toString("latin1"));
        singles.push(hit && now < hit.answer.refreshAt ? hit.answer.single : (await this.#signOne(issuers[i]!, id, now)).single);
      }
      // One responder signs the whole answer; its certificate must be issued by every CA asked about.
      const first = issuers[0]!.issuer.id;
      if (issuers.some((e) => e.issuer.id !== first)) return { body: UNAUTHORIZED, cacheable: false, outcome: "unauthorized" };
      const body = await this.#sign(issuers[0]!, singles, new Date(now), req.nonceExtension);
      this.stats.signed++;
      return { body, cacheable: false, outcome: "signed" };
    } catch (err) {
      if (err instanceof Unavailable) return { body: TRY_LATER, cacheable: false, outcome: "unavailable" };
      return { body: INTERNAL_ERROR, cacheable: false, outcome: "unavailable" };
    }
  }

  /** A revocation (from this replica or another): the answers change now, not at their refresh. */
  async revoked(serialHex: string, issuerId: string, revokedAt: Date, reason: number | null, notAfter: Date): Promise<void> {
    const entry = this.#entries.get(serialHex);
    const status: CertificateStatus = { serialHex, issuerId, status: "revoked", revokedAt, reason, notAfter };
    if (!entry) {
      this.#put(serialHex, { status, recheckAt: Infinity, signed: new Map() });
      return;
    }
    // Seen already (this replica's own revocation arrives first as it commits, then from the log).
    if (entry.status?.status === "revoked") return;
    this.#unknown.delete(serialHex);
    entry.status = status;
    entry.recheckAt = Infinity;
    // The cached answers say something else now: none is served until re-signed (a signer that
    // awaits I/O would otherwise leave "good" answers out while it works).
    const stale = [...entry.signed.values()];
    entry.signed.clear();
    await this.#resign(entry, this.#opts.clock().getTime(), stale);
  }

  /** A certificate was just issued: forget a cached "unknown" for its serial. */
  issued(serialHex: string): void {
    const e = this.#entries.get(serialHex);
    if (e && e.status === null) this.#drop(serialHex);
  }

  /** Re-signs answers past half their validity; drops certificates expired for longer than one
   * validity period (their last answer has run out). Run every few minutes. */
  async refresh(): Promise<{ resigned: number; dropped: number }> {
    const now = this.#opts.clock().getTime();
    let resigned = 0;
    let dropped = 0;
    for (const [serial, entry] of this.#entries) {
      if (entry.status === null ? now >= entry.recheckAt : entry.status.notAfter.getTime() + this.#opts.validitySeconds * 1000 < now) {
        this.#drop(serial);
        dropped++;
        continue;
      }
      let due = false;
      for (const { answer } of entry.signed.values()) if (now >= answer.refreshAt) due = true;
      if (!due) continue;
      try {
        resigned += await this.#resign(entry, now);
      } catch {
        // This entry is tried again at the next refresh (and re-signed on demand); the rest go on.
      }
    }
    return { resigned, dropped };
  }

  /** Signs again the answers for `certIds` (default: every one the entry holds). */
  async #resign(entry: Entry, now: number, certIds = [...entry.signed.values()]): Promise<number> {
    let n = 0;
    for (const { certId } of certIds) {
      const e = this.#issuers.get(`${certId.hash}:${certId.issuerKeyHash.toString("hex")}`);
      if (!e) continue;
      await this.#signInto(entry, e, certId, certId.der.toString("latin1"), now);
      n++;
    }
    return n;
  }

  async #signOne(e: IssuerEntry, id: OcspCertId, now: number): Promise<Signed> {
    const entry = await this.#entry(id.serialHex, now);
    this.stats.signed++;
    return this.#signInto(entry, e, id, id.der.toString("latin1"), now);
  }

  /** Signs the entry's current status and stores the answer, unless the status changed while the
   * signer worked (a revocation arrived): then it signs again, so a stale answer is never kept. */
  async #signInto(entry: Entry, e: IssuerEntry, id: OcspCertId, key: string, now: number): Promise<Signed> {
    for (;;) {
      const status = entry.status;
      const answer = await this.#signSingle(e, id, status, now);
      if (entry.status !== status) continue;
      // Kept: copied out of the request buffer, which it would otherwise pin whole.
      const certId = { ...id, der: Buffer.from(id.der), issuerNameHash: Buffer.from(id.issuerNameHash), issuerKeyHash: Buffer.from(id.issuerKeyHash) };
      entry.signed.set(key, { certId, answer });
      return answer;
    }
  }

  async #signSingle(e: IssuerEntry, id: OcspCertId, status: CertificateStatus | null, now: number): Promise<Signed> {
    const thisUpdate = new Date(Math.floor(now / 1000) * 1000);
    let certStatus: OcspCertStatus;
    let seconds = this.#opts.validitySeconds;
    if (status === null || status.issuerId !== e.issuer.id || status.status === "unknown") {
      certStatus = { kind: "unknown" };
      seconds = Math.min(seconds, this.#opts.unknownSeconds);
    } else if (status.status === "revoked") {
      certStatus = { kind: "revoked", revokedAt: status.revokedAt ?? thisUpdate, reason: status.reason === 0 ? null : status.reason };
    } else {
      certStatus = { kind: "good" };
    }
    const creds = this.#opts.credentials(e.issuer.id);
    let nextMs = thisUpdate.getTime() + seconds * 1000;
    // An answer never outlives the certificate that vouches for its signature.
    if (creds) nextMs = Math.min(nextMs, creds.notAfter.getTime());
    const nextUpdate = new Date(Math.floor(nextMs / 1000) * 1000);
    const single = encodeSingleResponse(id.der, certStatus, thisUpdate, nextUpdate);
    const body = await this.#sign(e, [single], thisUpdate, null);
    return {
      single,
      body,
      thisUpdate,
      nextUpdate,
      refreshAt: thisUpdate.getTime() + ((nextUpdate.getTime() - thisUpdate.getTime()) >> 1),
      etag: `"${createHash("sha1").update(body).digest("hex")}"`,
      lastModifiedHttp: thisUpdate.toUTCString(),
      expiresHttp: nextUpdate.toUTCString(),
    };
  }

  async #sign(e: IssuerEntry, singles: Buffer[], producedAt: Date, nonce: Buffer | null): Promise<Buffer> {
    const creds = this.#opts.credentials(e.issuer.id);
    const signer = creds?.signer ?? e.issuer.signer;
    if (!signer) throw new Unavailable();
    const certDer = creds?.certDer ?? null;
    const responseData = buildResponseData({ responderKeyHash: this.#keyHash(creds ?? e.issuer), producedAt, responses: singles, nonceExtension: nonce });
    const signature = await signer.sign(responseData);
    return assembleOcspResponse({ responseData, signatureAlgorithm: signer.signatureAlgorithm.algorithmIdentifier, signature, certs: certDer ? [certDer] : [] });
  }

  #keyHash(holder: ResponderCredentials | IssuerContext): Buffer {
    let h = this.#keyHashes.get(holder);
    if (!h) {
      h = responderKeyHash(parseCertificate(holder.certDer).spki);
      this.#keyHashes.set(holder, h);
    }
    return h;
  }

  async #entry(serialHex: string, now: number): Promise<Entry> {
    const e = this.#entries.get(serialHex);
    if (e && (e.status !== null || now < e.recheckAt)) return e;
    let p = this.#loading.get(serialHex);
    if (!p) {
      p = this.#load(serialHex, now).finally(() => this.#loading.delete(serialHex));
      this.#loading.set(serialHex, p);
    }
    return p;
  }

  async #load(serialHex: string, now: number): Promise<Entry> {
    this.stats.loads++;
    let status: CertificateStatus | null;
    try {
      status = await this.#opts.source.statusOf(serialHex);
    } catch (err) {
      throw new Unavailable("the certificate store is unavailable", { cause: err });
    }
    // A revocation pushed in while storage was being read wins over what was read.
    const pushed = this.#entries.get(serialHex);
    if (pushed?.status?.status === "revoked") return pushed;
    const known = status !== null && status.status !== "unknown";
    const entry: Entry = { status: known ? status : null, recheckAt: known ? Infinity : now + this.#opts.unknownSeconds * 1000, signed: pushed?.signed ?? new Map() };
    this.#put(serialHex, entry);
    return entry;
  }

  #put(serialHex: string, entry: Entry): void {
    this.#drop(serialHex);
    this.#entries.set(serialHex, entry);
    if (entry.status === null) {
      this.#unknown.add(serialHex);
      if (this.#unknown.size > this.#opts.maxUnknown) this.#drop(this.#unknown.values().next().value!);
    }
    if (this.#entries.size > this.#opts.maxEntries) this.#drop(this.#entries.keys().next().value!);
  }

  #drop(serialHex: string): void {
    this.#entries.delete(serialHex);
    this.#unknown.delete(serialHex);
  }
}

class Unavailable extends Error {}

function answerOf(a: Signed, outcome: "cached" | "signed"): OcspAnswer {
  return {
    body: a.body,
    cacheable: true,
    thisUpdate: a.thisUpdate,
    nextUpdate: a.nextUpdate,
    etag: a.etag,
    lastModifiedHttp: a.lastModifiedHttp,
    expiresHttp: a.expiresHttp,
    outcome,
  };
}
