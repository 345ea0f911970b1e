// How a proxy follows Signet, over its HTTPS API with an admin credential (the proxy holds no
// database credentials): the live revocation feed (a long poll answered the moment a revocation
// commits), the routes and access tokens defined through the admin API (a long poll on their
// version), usage reports, and the proxy's own server certificate. When the feed has been
// unreachable for a while, the CRLs on the HTTP port stand in for it.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { Agent, request } from "undici";
import { verify, X509Certificate } from "node:crypto";
import { parseCrl } from "../../ca/x509/crl.js";
import { DerReader, readOne, TAG } from "../../ca/x509/der.js";
import { SIGNATURE_ALGORITHM_OIDS } from "../../ca/x509/oids.js";
import { buildCsr, toPem } from "../../ca/x509/index.js";

/** Hash of a CRL signature algorithm Signet's CAs use (null: Ed25519). */
const CRL_HASHES: Record<string, string | null> = {
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA256"]]: "sha256",
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA384"]]: "sha384",
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA512"]]: "sha512",
  [SIGNATURE_ALGORITHM_OIDS.sha256WithRSAEncryption]: "sha256",
  [SIGNATURE_ALGORITHM_OIDS.sha384WithRSAEncryption]: "sha384",
  [SIGNATURE_ALGORITHM_OIDS.Ed25519]: null,
};
import type { ProxyState } from "./control.js";

export interface RevocationItem {
  cursor: string;
  serial: string;
  issuerId: string;
  revokedAt: string;
}

export class SignetClient {
  readonly #agent: Agent;
  readonly #token: string | null;
  readonly #ca: string;
  #closed = false;
  readonly #aborts = new Set<AbortController>();

  /** `credential`: an admin token file, or a client certificate (PEM files) with the signet:proxy
   * role, which reaches only the feed and the proxy endpoints. */
  constructor(
    readonly url: string,
    caFile: string,
    credential: { tokenFile: string } | { certFile: string; keyFile: string },
    private readonly log: Logger,
  ) {
    this.#ca = readFileSync(caFile, "utf8");
    const cert = "certFile" in credential ? { cert: readFileSync(credential.certFile, "utf8"), key: readFileSync(credential.keyFile, "utf8") } : {};
    this.#agent = new Agent({ connect: { ca: this.#ca, minVersion: "TLSv1.2", ...cert }, keepAliveTimeout: 60_000 });
    this.#token = "tokenFile" in credential ? readFileSync(credential.tokenFile, "utf8").trim() : null;
  }

  /** Whether this client may have Signet issue certificates (admin token only). */
  get canIssue(): boolean {
    return this.#token !== null;
  }

  async #call<T>(method: "GET" | "POST", path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    const ac = new AbortController();
    this.#aborts.add(ac);
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      const r = await request(`${this.url}${path}`, {
        method,
        dispatcher: this.#agent,
        signal: ac.signal,
        headers: { ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.body.text();
      if (r.statusCode >= 300) throw new Error(`${method} ${path}: HTTP ${r.statusCode} ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : null) as T;
    } finally {
      clearTimeout(timer);
      this.#aborts.delete(ac);
    }
  }

  /** The proxy's own server certificate, issued through Signet's admin provisioner (a fresh key in
   * memory; it never touches disk). */
  async issueServerCertificate(names: { dns: string[]; ip: string[] }): Promise<{ key: KeyObject; certPem: string; notAfter: Date }> {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const csr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: names.dns[0] ?? "signet-proxy" }], sans: names }));
    const r = await this.#call<{ pem: string; chainPem: string; certificate: { notAfter: string } }>("POST", "/admin/v1/certificates", { csr, provisioner: "signet-system", profile: "server", identity: "signet:proxy" });
    return { key: privateKey, certPem: r.chainPem, notAfter: new Date(r.certificate.notAfter) };
  }

  /** The CA certificates client certificates chain to: Signet's roots and intermediates, fetched
   * from the HTTP port and kept only where they are `caFile`'s roots or issued by one of them (the
   * fetch is plain HTTP: nothing it brings is trusted on its own). */
  async trustBundle(httpUrl: string): Promise<string> {
    return verifiedBundle(await this.#fetchBundle(httpUrl), this.#ca);
  }

  async #fetchBundle(httpUrl: string): Promise<string> {
    const get = async (path: string) => {
      const r = await request(`${httpUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
      const text = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${r.statusCode}`);
      return text;
    };
    return (await get("/roots.pem")) + (await get("/intermediates.pem"));
  }

  state(version: string | null, waitSeconds: number): Promise<ProxyState> {
    const q = version === null ? "" : `?version=${encodeURIComponent(version)}&wait=${waitSeconds}`;
    return this.#call<ProxyState>("GET", `/admin/v1/proxy/state${q}`, undefined, (waitSeconds + 10) * 1000);
  }

  report(body: { tokens: Array<{ id: string; at: string }>; buckets: Array<{ minute: string; route: string; caller: string; requests: number; tokens: number; errors: number }> }): Promise<void> {
    return this.#call("POST", "/admin/v1/proxy/usage", body);
  }

  revocations(since: string, waitSeconds: number): Promise<{ items: RevocationItem[]; cursor: string; more: boolean }> {
    return this.#call("GET", `/revocations?since=${encodeURIComponent(since)}&limit=1000&wait=${waitSeconds}`, undefined, (waitSeconds + 10) * 1000);
  }

  /** Follows `loop` until closed, backing off on errors (1 s, doubling to 30 s). */
  follow(name: string, loop: () => Promise<void>, onError: (failingForMs: number) => void = () => {}): void {
    void (async () => {
      let delay = 1000;
      let failingSince: number | null = null;
      while (!this.#closed) {
        try {
          await loop();
          delay = 1000;
          failingSince = null;
        } catch (err) {
          if (this.#closed) return;
          failingSince ??= Date.now();
          onError(Date.now() - failingSince);
          this.log.warn({ err: (err as Error).message, follower: name }, "following Signet failed; retrying");
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 30_000);
        }
      }
    })();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const ac of this.#aborts) ac.abort();
    await this.#agent.close().catch(() => undefined);
  }
}

/** Serials revoked in the issuer's full or delta CRL, fetched from Signet's HTTP port; the CRL's
 * signature is checked against the issuer's certificate (it travels over plain HTTP). */
export async function crlSerials(httpUrl: string, issuerId: string, issuer: X509Certificate, kind: "full" | "delta" = "full"): Promise<string[]> {
  const r = await request(`${httpUrl}/crl/${issuerId}${kind === "delta" ? "-delta" : ""}.crl`, { signal: AbortSignal.timeout(10_000) });
  const der = Buffer.from(await r.body.arrayBuffer());
  if (r.statusCode !== 200) throw new Error(`CRL ${issuerId}: HTTP ${r.statusCode}`);
  const crl = parseCrl(der);
  const oid = DerReader.of(readOne(crl.signatureAlgorithm, TAG.SEQUENCE, "AlgorithmIdentifier", "bad_crl"), "bad_crl").readOid("algorithm");
  const hash = CRL_HASHES[oid];
  if (hash === undefined) throw new Error(`CRL ${issuerId}: signature algorithm ${oid} is not one Signet uses`);
  if (!verify(hash, crl.tbs, issuer.publicKey, crl.signature)) throw new Error(`CRL ${issuerId}: the signature does not verify`);
  return crl.entries.map((e) => e.serialHex);
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** `fetched`'s certificates that are roots of `trustedPem` or issued by one of them, with the roots. */
export function verifiedBundle(fetched: string, trustedPem: string): string {
  const roots = (trustedPem.match(PEM_CERT) ?? []).map((p) => new X509Certificate(p));
  const keep = [...roots];
  for (const pem of fetched.match(PEM_CERT) ?? []) {
    const c = new X509Certificate(pem);
    if (roots.some((r) => r.raw.equals(c.raw))) continue;
    if (c.ca && roots.some((r) => c.checkIssued(r) && c.verify(r.publicKey))) keep.push(c);
  }
  return keep.map((c) => c.toString()).join("");
}
