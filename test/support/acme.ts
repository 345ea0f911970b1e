// Shared pieces of the ACME tests: a Signet whose validator resolves names through a loopback DNS
// server and fetches http-01 from a port the test owns, and an http-01 responder on that port.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestDns, type TestDns } from "./dns-server.js";
import { fetchRaw, startTestServer, type StartOptions, type TestServer } from "./server.js";

export interface AcmeTestbed {
  signet: TestServer;
  dns: TestDns;
  /** Keys authorizations served at /.well-known/acme-challenge/{token} on `http01Port`. */
  http01: Map<string, string>;
  http01Port: number;
  tlsAlpnPort: number;
  directory(provisioner?: string): string;
  rootFile: string;
  close(): Promise<void>;
}

export async function listenHttp01(tokens: Map<string, string>): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const m = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? "");
    const ka = m ? tokens.get(m[1]!) : undefined;
    if (!ka) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(ka);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** A free TCP port in 21000-29000 (below the ephemeral range), for peers that must be told one. */
export async function freePort(): Promise<number> {
  const { createServer: net } = await import("node:net");
  for (let i = 0; i < 50; i++) {
    const port = 21000 + Math.floor(Math.random() * 8000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error("no free port found");
}

export async function startAcmeTestbed(opts: StartOptions & { http01Port?: number; tlsAlpnPort?: number } = {}): Promise<AcmeTestbed> {
  const dns = await startTestDns();
  const http01 = new Map<string, string>();
  const own = opts.http01Port === undefined ? await listenHttp01(http01) : null;
  const http01Port = opts.http01Port ?? own!.port;
  const tlsAlpnPort = opts.tlsAlpnPort ?? (await freePort());
  const signet = await startTestServer({
    ...opts,
    env: {
      SIGNET_ACME_HTTP01_PORT: String(http01Port),
      SIGNET_ACME_TLSALPN01_PORT: String(tlsAlpnPort),
      SIGNET_ACME_RESOLVER: dns.address,
      SIGNET_ACME_VALIDATION_ATTEMPTS: "1",
      SIGNET_ACME_VALIDATION_TIMEOUT: "5s",
      ...opts.env,
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "signet-acme-"));
  const rootFile = join(dir, "root.pem");
  writeFileSync(rootFile, signet.rootPem);
  return {
    signet,
    dns,
    http01,
    http01Port,
    tlsAlpnPort,
    rootFile,
    directory: (p = "acme") => `${signet.httpsUrl}/acme/${p}/directory`,
    async close() {
      await signet.close();
      await dns.close();
      await new Promise<void>((resolve) => (own ? own.server.close(() => resolve()) : resolve()));
    },
  };
}

/** openssl verify of a PEM chain file's leaf against the root, with the intermediate untrusted. */
export function opensslVerify(rootFile: string, chainPem: string, purpose?: "sslserver" | "sslclient"): string {
  const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  if (certs.length < 2) throw new Error(`expected a chain of at least 2 certificates, got ${certs.length}`);
  const dir = mkdtempSync(join(tmpdir(), "signet-verify-"));
  writeFileSync(join(dir, "leaf.pem"), certs[0]!);
  writeFileSync(join(dir, "chain.pem"), certs.slice(1).join(""));
  return execFileSync("openssl", ["verify", "-CAfile", rootFile, "-untrusted", join(dir, "chain.pem"), ...(purpose ? ["-purpose", purpose] : []), join(dir, "leaf.pem")], { encoding: "utf8" });
}

/** An admin API call. */
export async function admin<T = Record<string, unknown>>(signet: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetchRaw(`${signet.httpsUrl}${path}`, {
    method,
    ca: signet.rootPem,
    headers: { authorization: `Bearer ${signet.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: res.text ? (res.json() as T) : ({} as T) };
}
