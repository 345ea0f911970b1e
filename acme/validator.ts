// Challenge validation (RFC 8555 §8.3 http-01, §8.4 dns-01, RFC 8737 tls-alpn-01, RFC 8738 for IP
// identifiers). One attempt per call; retries and state belong to the caller (validation.ts). Ports
// and the DNS resolver are configurable: internal networks and tests do not listen on 80/443, and test
// names resolve through a server the operator points at.
import { createHash } from "node:crypto";
import { lookup as dnsLookup, Resolver } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { ipToBytes, parseCertificate } from "../ca/x509/index.js";
import type { ChallengeType } from "./ports.js";
import { problemDocument, type Identifier, type ProblemDocument } from "./problems.js";

export interface ValidatorOptions {
  /** Port http-01 connects to (RFC: 80). */
  http01Port: number;
  /** Port tls-alpn-01 connects to (RFC: 443). */
  tlsAlpn01Port: number;
  /** DNS servers ("host" or "host:port") for A/AAAA/TXT; null: the system's resolver (getaddrinfo,
   * so /etc/hosts applies) for addresses, and the system's DNS servers for TXT. */
  resolvers: string[] | null;
  /** Per attempt, connection plus response. */
  timeoutMs: number;
}

const ACME_TLS_1 = "acme-tls/1";
const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";
const MAX_REDIRECTS = 10;
const MAX_BODY = 4096;

class ValidationError extends Error {
  constructor(readonly problem: ProblemDocument) {
    super(problem.detail);
  }
}

const fail = (type: Parameters<typeof problemDocument>[0], detail: string, identifier: Identifier): never => {
  throw new ValidationError(problemDocument(type, detail, type === "dns" || type === "connection" || type === "tls" ? 400 : 403, { identifier }));
};

export class ChallengeValidator {
  readonly #opts: ValidatorOptions;
  readonly #resolver: Resolver | null;

  constructor(opts: ValidatorOptions) {
    this.#opts = opts;
    if (opts.resolvers && opts.resolvers.length > 0) {
      this.#resolver = new Resolver({ timeout: Math.min(opts.timeoutMs, 5_000), tries: 2 });
      this.#resolver.setServers(opts.resolvers);
    } else {
      this.#resolver = null;
    }
  }

  get options(): Readonly<ValidatorOptions> {
    return this.#opts;
  }

  /** null when the challenge is met; otherwise the problem, with the identifier. One attempt, within
   * one deadline (`timeoutMs`) for everything it does: lookups, every redirect, every address. */
  async validate(type: ChallengeType, identifier: Identifier, token: string, keyAuthorization: string): Promise<ProblemDocument | null> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.#opts.timeoutMs);
    const expired = new Promise<never>((_, reject) =>
      ac.signal.addEventListener("abort", () => reject(new ValidationError(problemDocument("connection", `the validation did not complete within ${this.#opts.timeoutMs / 1000}s`, 400, { identifier })))),
    );
    const work = (async () => {
      switch (type) {
        case "http-01":
          return this.#http01(identifier, token, keyAuthorization, ac.signal);
        case "dns-01":
          return this.#dns01(identifier, keyAuthorization);
        case "tls-alpn-01":
          return this.#tlsAlpn01(identifier, keyAuthorization, ac.signal);
        default:
          // device-attest-01 is verified from the client's response, when it arrives (authz.ts).
          return fail("malformed", `${type} is not validated by fetching anything`, identifier);
      }
    })();
    work.catch(() => undefined);
    expired.catch(() => undefined);
    try {
      await Promise.race([work, expired]);
      return null;
    } catch (err) {
      if (err instanceof ValidationError) return err.problem;
      return problemDocument("serverInternal", "the validation could not be carried out", 500, { identifier });
    } finally {
      clearTimeout(timer);
      // Ends whatever is still open (sockets of a lost race).
      ac.abort();
    }
  }

  async #addresses(identifier: Identifier): Promise<string[]> {
    if (identifier.type === "ip") return [identifier.value];
    const name = identifier.value;
    try {
      if (this.#resolver) {
        const v4 = await this.#resolver.resolve4(name).catch((e: NodeJS.ErrnoException) => (e.code === "ENODATA" ? [] : Promise.reject(e)));
        const v6 = v4.length > 0 ? [] : await this.#resolver.resolve6(name).catch((e: NodeJS.ErrnoException) => (e.code === "ENODATA" ? [] : Promise.reject(e)));
        const all = [...v4, ...v6];
        if (all.length === 0) fail("dns", `no A or AAAA record for ${name}`, identifier);
        return all;
      }
      return (await dnsLookup(name, { all: true, verbatim: false })).map((a) => a.address);
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      return fail("dns", `DNS problem: ${code} looking up A/AAAA for ${name}`, identifier);
    }
  }

  // §8.3: GET http://{domain}/.well-known/acme-challenge/{token}; the body is the key authorization.
  async #http01(identifier: Identifier, token: string, keyAuthorization: string, signal: AbortSignal): Promise<void> {
    const port = this.#opts.http01Port;
    const host = identifier.type === "ip" && identifier.value.includes(":") ? `[${identifier.value}]` : identifier.value;
    let url = new URL(`http://${host}${port === 80 ? "" : `:${port}`}/.well-known/acme-challenge/${token}`);
    for (let hop = 0; ; hop++) {
      const res = await this.#get(url, identifier, signal);
      if (res.status >= 300 && res.status < 400 && res.location) {
        if (hop >= MAX_REDIRECTS) fail("connection", `too many redirects fetching ${url.href}`, identifier);
        let next: URL;
        try {
          next = new URL(res.location, url);
        } catch {
          return fail("connection", `invalid redirect from ${url.href}`, identifier);
        }
        const allowed = next.protocol === "http:" ? [80, port] : next.protocol === "https:" ? [443, this.#opts.tlsAlpn01Port] : [];
        const nextPort = next.port === "" ? (next.protocol === "https:" ? 443 : 80) : Number(next.port);
        if (!allowed.includes(nextPort)) fail("connection", `redirect from ${url.href} to ${next.href}: only http and https on the validation ports are followed`, identifier);
        url = next;
        continue;
      }
      if (res.status !== 200) fail("unauthorized", `invalid response from ${url.href}: HTTP ${res.status}`, identifier);
      const body = res.body.trim();
      if (body !== keyAuthorization) {
        // Only something shaped like a key authorization is quoted back: a redirect may have led to an
        // internal resource, whose content is not the account's to read.
        const shown = /^[A-Za-z0-9_.-]{1,200}$/.test(body) ? JSON.stringify(body.slice(0, 100)) : "a response that is not a key authorization";
        fail("incorrectResponse", `the key authorization at ${url.href} does not match the challenge (got ${shown})`, identifier);
      }
      return;
    }
  }

  async #get(url: URL, identifier: Identifier, signal: AbortSignal): Promise<{ status: number; location: string | undefined; body: string }> {
    const name = url.hostname.replace(/^\[|\]$/g, "");
    const addresses = (isIP(name) ? [name] : await this.#addresses({ type: "dns", value: name })).filter((a) => !isLinkLocal(a));
    if (addresses.length === 0) fail("connection", `${url.hostname} has only link-local addresses, which are never contacted`, identifier);
    let last: unknown;
    for (const address of addresses.slice(0, 4)) {
      try {
        return await new Promise((resolve, reject) => {
          const fn = url.protocol === "https:" ? httpsRequest : httpRequest;
          const req = fn(
            {
              host: address,
              port: url.port === "" ? undefined : Number(url.port),
              path: url.pathname + url.search,
              method: "GET",
              headers: { host: url.host, "user-agent": "Signet-ACME-validator", accept: "*/*" },
              agent: false,
              timeout: this.#opts.timeoutMs,
              signal,
              ...(url.protocol === "https:" ? { servername: isIP(name) ? undefined : name, rejectUnauthorized: false } : {}),
            },
            (res: IncomingMessage) => {
              const chunks: Buffer[] = [];
              let size = 0;
              res.on("data", (c: Buffer) => {
                size += c.length;
                if (size > MAX_BODY) {
                  req.destroy(new Error("response too large"));
                  return;
                }
                chunks.push(c);
              });
              res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString("utf8") }));
              res.on("error", reject);
            },
          );
          req.on("timeout", () => req.destroy(new Error("timed out")));
          req.on("error", reject);
          req.end();
        });
      } catch (err) {
        last = err;
      }
    }
    const msg = (last as NodeJS.ErrnoException | undefined)?.code ?? (last as Error | undefined)?.message ?? "no address";
    return fail("connection", `could not fetch ${url.href}: ${msg}`, identifier);
  }

  // §8.4: a TXT record at _acme-challenge.{domain} holding base64url(SHA-256(key authorization)).
  async #dns01(identifier: Identifier, keyAuthorization: string): Promise<void> {
    if (identifier.type !== "dns") fail("malformed", "dns-01 applies to DNS identifiers only", identifier);
    const name = `_acme-challenge.${identifier.value}`;
    const expected = createHash("sha256").update(keyAuthorization).digest("base64url");
    let records: string[][];
    try {
      records = await (this.#resolver ?? new Resolver({ timeout: Math.min(this.#opts.timeoutMs, 5_000), tries: 2 })).resolveTxt(name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENODATA" || code === "ENOTFOUND") return fail("unauthorized", `no TXT record found at ${name}`, identifier);
      return fail("dns", `DNS problem: ${code ?? "error"} looking up TXT for ${name}`, identifier);
    }
    const values = records.map((chunks) => chunks.join(""));
    if (!values.includes(expected)) {
      fail("incorrectResponse", `no TXT record at ${name} matches the challenge (found ${values.length}: ${values.slice(0, 3).map((v) => JSON.stringify(v.slice(0, 64))).join(", ")})`, identifier);
    }
  }

  // RFC 8737: a TLS handshake negotiating acme-tls/1, whose self-signed certificate names exactly
  // the identifier and carries a critical acmeIdentifier extension with SHA-256(key authorization).
  async #tlsAlpn01(identifier: Identifier, keyAuthorization: string, signal: AbortSignal): Promise<void> {
    const addresses = (await this.#addresses(identifier)).filter((a) => !isLinkLocal(a));
    if (addresses.length === 0) fail("connection", `${identifier.value} has only link-local addresses, which are never contacted`, identifier);
    const servername = identifier.type === "dns" ? identifier.value : reverseName(identifier.value);
    let der: Buffer | undefined;
    let alpn: string | false | null = null;
    let last: unknown;
    for (const address of addresses.slice(0, 4)) {
      try {
        ({ der, alpn } = await new Promise<{ der: Buffer | undefined; alpn: string | false | null }>((resolve, reject) => {
          const socket = tlsConnect({
            host: address,
            port: this.#opts.tlsAlpn01Port,
            servername,
            ALPNProtocols: [ACME_TLS_1],
            rejectUnauthorized: false,
            minVersion: "TLSv1.2",
            timeout: this.#opts.timeoutMs,
          });
          socket.once("secureConnect", () => {
            const out = { der: socket.getPeerX509Certificate()?.raw, alpn: socket.alpnProtocol };
            socket.destroy();
            resolve(out);
          });
          socket.once("timeout", () => socket.destroy(new Error("timed out")));
          signal.addEventListener("abort", () => socket.destroy(new Error("timed out")), { once: true });
          socket.once("error", reject);
        }));
        break;
      } catch (err) {
        last = err;
      }
    }
    if (der === undefined && last !== undefined) {
      const msg = (last as NodeJS.ErrnoException).code ?? (last as Error).message;
      fail("tls", `TLS connection to ${identifier.value}:${this.#opts.tlsAlpn01Port} failed: ${msg}`, identifier);
    }
    if (alpn !== ACME_TLS_1) fail("tls", `the server did not negotiate the ${ACME_TLS_1} protocol`, identifier);
    if (!der) return fail("tls", "the server presented no certificate", identifier);
    let cert: ReturnType<typeof parseCertificate>;
    try {
      cert = parseCertificate(der);
    } catch {
      return fail("tls", "the server's certificate cannot be parsed", identifier);
    }
    const { dns, ip, uri, email } = cert.sans;
    const only = identifier.type === "dns" ? dns.length === 1 && dns[0]!.toLowerCase() === identifier.value && ip.length === 0 : ip.length === 1 && ip[0] === identifier.value && dns.length === 0;
    if (!only || uri.length + email.length > 0) {
      fail("incorrectResponse", `the certificate must name exactly ${identifier.value} in its subjectAltName (it names ${[...dns, ...ip, ...uri, ...email].join(", ") || "nothing"})`, identifier);
    }
    const ext = cert.extensions.find((e) => e.oid === ACME_IDENTIFIER_OID);
    if (!ext) fail("incorrectResponse", "the certificate has no acmeIdentifier extension", identifier);
    if (!ext!.critical) fail("incorrectResponse", "the acmeIdentifier extension must be critical", identifier);
    const expected = Buffer.concat([Buffer.from([0x04, 0x20]), createHash("sha256").update(keyAuthorization).digest()]);
    if (!Buffer.from(ext!.value).equals(expected)) fail("incorrectResponse", "the acmeIdentifier extension does not match the key authorization", identifier);
  }
}

/** Link-local addresses (169.254/16, fe80::/10: where cloud metadata services answer) are never
 * validation targets, whether named by an identifier, a DNS answer or a redirect. */
export function isLinkLocal(ip: string): boolean {
  if (isIP(ip) === 0) return false;
  const b = ipToBytes(ip);
  if (b.length === 4) return b[0] === 169 && b[1] === 254;
  const mapped = b.subarray(0, 12).equals(Buffer.from("00000000000000000000ffff", "hex"));
  if (mapped) return b[12] === 169 && b[13] === 254;
  // AWS's IPv6 metadata address is not link-local, but is the same thing.
  return (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) || b.equals(Buffer.from("fd000ec2000000000000000000000254", "hex"));
}

/** RFC 8738 §6: the reverse-mapping name of an IP address, used as the TLS SNI. */
export function reverseName(ip: string): string {
  const bytes = ipToBytes(ip);
  if (bytes.length === 4) return `${[...bytes].reverse().join(".")}.in-addr.arpa`;
  return `${[...bytes.toString("hex")].reverse().join(".")}.ip6.arpa`;
}
