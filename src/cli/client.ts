// The CLI's admin API client: HTTPS to the local Signet (or SIGNET_URL), trusting Signet's own root,
// with the admin token from SIGNET_ADMIN_TOKEN or $SIGNET_HOME/admin.token.
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { SignetError } from "../../ca/errors.js";
import { adminTokenPath } from "../bootstrap.js";
import type { Config } from "../config.js";
import { caFiles } from "../home/ca-files.js";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export interface ApiClient {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  text(method: string, path: string): Promise<string>;
}

export function apiClient(cfg: Config, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const base = new URL((env.SIGNET_URL || `https://127.0.0.1:${cfg.httpsPort}`).replace(/\/+$/, ""));
  const rootFile = env.SIGNET_CA_BUNDLE || caFiles(cfg.home).rootCert;
  const tokenFile = adminTokenPath(cfg.home);

  function credentials(): { ca: string; token: string } {
    if (!existsSync(rootFile)) throw new SignetError("ca_not_initialized", `no root certificate at ${rootFile}: is SIGNET_HOME right, and has \`signet serve\` or \`signet init\` run?`);
    const token = env.SIGNET_ADMIN_TOKEN || (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "");
    if (!token) throw new SignetError("unauthenticated", `no admin token: set SIGNET_ADMIN_TOKEN or create ${tokenFile}`);
    return { ca: readFileSync(rootFile, "utf8"), token };
  }

  function send(method: string, path: string, body: unknown, accept: string): Promise<{ status: number; text: string; type: string }> {
    const { ca, token } = credentials();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const url = new URL(base.pathname.replace(/\/$/, "") + path, base);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca,
          minVersion: "TLSv1.2",
          headers: {
            authorization: `Bearer ${token}`,
            accept,
            ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), type: String(res.headers["content-type"] ?? "") }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "ECONNREFUSED") reject(new SignetError("unreachable", `cannot reach Signet at ${base.origin}: is \`signet serve\` running? (SIGNET_HTTPS_PORT / SIGNET_URL)`));
        else reject(err);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  function check(r: { status: number; text: string; type: string }): void {
    if (r.status < 400) return;
    let body: { code?: string; message?: string } = {};
    try {
      body = JSON.parse(r.text) as typeof body;
    } catch {
      // not JSON
    }
    throw new ApiError(r.status, body.code ?? "http_error", body.message ?? `HTTP ${r.status}`, body);
  }

  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const r = await send(method, path, body, "application/json");
      check(r);
      return (r.text ? JSON.parse(r.text) : null) as T;
    },
    async text(method: string, path: string): Promise<string> {
      const r = await send(method, path, undefined, "*/*");
      check(r);
      return r.text;
    },
  };
}
