// CRLs (RFC 5280 §5), full and delta, for every issuing CA whose key is online. Only revoked
// certificates that have not yet expired are listed, so short-lived issuance keeps CRLs small.
//
// Deltas: a scheduled full CRL becomes the "anchor"; each delta lists what was revoked after the
// anchor was read (by audit seq, which is commit-ordered, so nothing slips between the two) and names
// the anchor's number as its BaseCRLNumber. Full CRLs regenerated after a revocation are newer than
// the anchor, so a client holding any of them can apply the current delta (§5.2.4: a delta applies
// to a complete CRL whose number is at least the BaseCRLNumber).
//
// CRL numbers are milliseconds since the epoch, kept strictly increasing and shared by full and
// delta CRLs (§5.2.3). Replicas each generate their own CRLs from the same database; time-based
// numbers keep them comparable without coordinating a counter.
import { createHash } from "node:crypto";
import type { IssuerContext } from "./authority.js";
import type { Signer } from "./signer.js";
import { assembleCrl, buildTbsCertList, type RevokedEntry } from "./x509/crl.js";
import { toPem } from "./x509/pem.js";

export interface RevokedSource {
  /** The audit seq at or after every revocation the next revokedUnexpired call will return. */
  highWater(): Promise<bigint>;
  /** Revoked certificates of the issuer with notAfter after `at`. */
  revokedUnexpired(issuerId: string, at: Date): Promise<RevokedEntry[]>;
  /** Those revoked after audit seq `afterSeq`, with notAfter after `at`. */
  revokedSince(issuerId: string, afterSeq: bigint, at: Date): Promise<RevokedEntry[]>;
}

export interface PublishedCrl {
  issuerId: string;
  kind: "full" | "delta";
  der: Buffer;
  number: bigint;
  /** Deltas only: the anchor's number. */
  baseNumber: bigint | null;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: number;
  /** Quoted, for the ETag header. */
  etag: string;
  lastModifiedHttp: string;
  /** Milliseconds the generation took. */
  took: number;
  pem(): string;
}

export interface CrlPublisherOptions {
  issuers: IssuerContext[];
  source: RevokedSource;
  /** nextUpdate - thisUpdate of a full CRL. */
  validitySeconds: number;
  deltaValiditySeconds: number;
  /** The delta CRL's URL for an issuer (the Freshest CRL extension). */
  deltaUrl: (issuerId: string) => string;
  clock?: () => Date;
}

interface Anchor {
  number: bigint;
  seq: bigint;
}

export class CrlPublisher {
  readonly #opts: CrlPublisherOptions;
  readonly #issuers: Array<IssuerContext & { signer: Signer }>;
  readonly #clock: () => Date;
  readonly #full = new Map<string, PublishedCrl>();
  readonly #delta = new Map<string, PublishedCrl>();
  readonly #anchors = new Map<string, Anchor>();
  #lastNumber = 0n;

  constructor(opts: CrlPublisherOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? (() => new Date());
    this.#issuers = opts.issuers.filter((i): i is IssuerContext & { signer: Signer } => i.signer !== null);
  }

  /** The issuers this publisher signs for (those with an online key). */
  get issuerIds(): string[] {
    return this.#issuers.map((i) => i.id);
  }

  current(issuerId: string, kind: "full" | "delta"): PublishedCrl | null {
    return (kind === "full" ? this.#full : this.#delta).get(issuerId) ?? null;
  }

  /** Generates a full CRL and a delta for every issuer. With `anchor` (the schedule), the new full
   * CRL becomes the base the following deltas are relative to. */
  async publish(opts: { anchor: boolean }): Promise<PublishedCrl[]> {
    const out: PublishedCrl[] = [];
    for (const issuer of this.#issuers) {
      const seq = await this.#opts.source.highWater();
      const full = await this.#generate(issuer, "full", await this.#opts.source.revokedUnexpired(issuer.id, this.#clock()));
      this.#full.set(issuer.id, full);
      out.push(full);
      if (opts.anchor || !this.#anchors.has(issuer.id)) this.#anchors.set(issuer.id, { number: full.number, seq });
      out.push(await this.#publishDelta(issuer));
    }
    return out;
  }

  /** Regenerates only the deltas (cheap: they list what changed since the anchor). */
  async publishDeltas(): Promise<PublishedCrl[]> {
    const out: PublishedCrl[] = [];
    for (const issuer of this.#issuers) if (this.#anchors.has(issuer.id)) out.push(await this.#publishDelta(issuer));
    return out;
  }

  async #publishDelta(issuer: IssuerContext & { signer: Signer }): Promise<PublishedCrl> {
    const anchor = this.#anchors.get(issuer.id)!;
    const entries = await this.#opts.source.revokedSince(issuer.id, anchor.seq, this.#clock());
    const delta = await this.#generate(issuer, "delta", entries, anchor.number);
    this.#delta.set(issuer.id, delta);
    return delta;
  }

  async #generate(issuer: IssuerContext & { signer: Signer }, kind: "full" | "delta", entries: RevokedEntry[], baseNumber?: bigint): Promise<PublishedCrl> {
    const started = performance.now();
    const thisUpdate = new Date(Math.floor(this.#clock().getTime() / 1000) * 1000);
    const seconds = kind === "full" ? this.#opts.validitySeconds : this.#opts.deltaValiditySeconds;
    const nextUpdate = new Date(thisUpdate.getTime() + seconds * 1000);
    const number = this.#nextNumber(thisUpdate);
    const alg = issuer.signer.signatureAlgorithm.algorithmIdentifier;
    const tbs = buildTbsCertList({
      signatureAlgorithm: alg,
      issuerDer: issuer.subjectDer,
      thisUpdate,
      nextUpdate,
      entries,
      crlNumber: number,
      authorityKeyId: issuer.subjectKeyId,
      ...(kind === "delta" ? { deltaBaseCrlNumber: baseNumber! } : { freshestCrlUrls: [this.#opts.deltaUrl(issuer.id)] }),
    });
    const der = assembleCrl(tbs, alg, await issuer.signer.sign(tbs));
    let pem: string | null = null;
    return {
      issuerId: issuer.id,
      kind,
      der,
      number,
      baseNumber: baseNumber ?? null,
      thisUpdate,
      nextUpdate,
      entries: entries.length,
      etag: `"${number.toString(16)}-${createHash("sha256").update(der.subarray(der.length - 64)).digest("hex").slice(0, 16)}"`,
      lastModifiedHttp: thisUpdate.toUTCString(),
      took: performance.now() - started,
      pem: () => (pem ??= toPem("X509 CRL", der)),
    };
  }

  #nextNumber(thisUpdate: Date): bigint {
    const t = BigInt(thisUpdate.getTime());
    this.#lastNumber = t > this.#lastNumber ? t : this.#lastNumber + 1n;
    return this.#lastNumber;
  }
}
