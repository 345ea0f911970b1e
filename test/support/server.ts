// A real Signet on ephemeral loopback ports, with its logs captured for assertions.
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { TEST_HTTP_URL, TEST_PASSPHRASE } from "./ca-fixture.js";

export interface TestServer {
  server: RunningServer;
  home: string;
  env: Record<string, string>;
  token: string;
  rootPem: string;
  logs: string[];
  httpsUrl: string;
  httpUrl: string;
  close(opts?: { keepHome?: boolean }): Promise<void>;
}

export interface StartOptions {
  databaseUrl?: string | undefined;
  home?: string;
  /** Extra environment; SIGNET_CA_PASSPHRASE is set unless `zeroConfig`. */
  env?: Record<string, string>;
  zeroConfig?: boolean;
}

export function serverEnv(home: string, opts: StartOptions = {}): Record<string, string> {
  return {
    SIGNET_HOME: home,
    SIGNET_HTTPS_PORT: "0",
    SIGNET_HTTP_PORT: "0",
    SIGNET_LISTEN_HOST: "127.0.0.1",
    SIGNET_HTTP_URL: TEST_HTTP_URL,
    SIGNET_LOG_LEVEL: "info",
    ...(opts.zeroConfig ? {} : { SIGNET_CA_PASSPHRASE: TEST_PASSPHRASE }),
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    ...opts.env,
  };
}

export async function startTestServer(opts: StartOptions = {}): Promise<TestServer> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), "signet-home-"));
  const env = serverEnv(home, opts);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const cfg = loadConfig(env);
  const log = createLogger("info", sink);
  const server = await startServer(cfg, log, env);
  return {
    server,
    home,
    env,
    token: readFileSync(join(home, "admin.token"), "utf8").trim(),
    rootPem: readFileSync(join(home, "ca", "root.pem"), "utf8"),
    logs,
    httpsUrl: `https://127.0.0.1:${server.httpsPort}`,
    httpUrl: `http://127.0.0.1:${server.httpPort}`,
    async close(o = {}) {
      await server.close();
      if (!o.keepHome) rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request over real HTTP(S), no agent reuse. */
export function fetchRaw(url: string, opts: RequestOptions & { body?: string | Buffer } = {}): Promise<HttpResult> {
  const u = new URL(url);
  const fn = u.protocol === "https:" ? httpsRequest : httpRequest;
  const { body, ...rest } = opts;
  return new Promise((resolve, reject) => {
    const req = fn(u, { agent: false, ...rest }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString("utf8"), json: <T>() => JSON.parse(b.toString("utf8")) as T });
      });
    });
    req.on("error", reject);
    req.setTimeout(30_000, () => req.destroy(new Error("request timed out")));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A home for a second replica of the server whose home is `home`: the same CA files and admin token
 * (replicas share the CA and one database), in a directory of its own. */
export function replicaHome(home: string): string {
  const replica = mkdtempSync(join(tmpdir(), "signet-home-"));
  cpSync(join(home, "ca"), join(replica, "ca"), { recursive: true });
  copyFileSync(join(home, "admin.token"), join(replica, "admin.token"));
  return replica;
}
