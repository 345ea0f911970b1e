// `signet serve` as a whole: first start and restart of a home, CA passphrase handling, the public
// endpoints on both ports, the HTTPS port's TLS, admin mTLS, what the logs may not contain, the
// migration ledger, and the embedded database's lock.
import { execFile } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSignetError } from "../ca/errors.js";
import { migrationsDir } from "../src/db/database.js";
import { makeCsr } from "./support/csr.js";
import { dbTargets } from "./support/databases.js";
import { fetchRaw, startTestServer, type TestServer } from "./support/server.js";

// Response bodies are checked field by field; their static type adds nothing here.
type Json = Record<string, any>;

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?/g;

/** openssl without blocking the event loop: the server under test runs in this process. */
function opensslAsync(args: string[], files: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "signet-ossl-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return new Promise((resolve) => {
    const child = execFile("openssl", args, { cwd: dir, timeout: 20_000, encoding: "utf8" }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
    child.stdin?.end(); // s_client closes the connection on end of input
  });
}

async function expectStartFailure(p: Promise<TestServer>, code: string): Promise<Error> {
  let started: TestServer | undefined;
  try {
    started = await p;
  } catch (err) {
    expect(isSignetError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return err as Error;
  }
  await started.close({ keepHome: true });
  throw new Error(`expected the start to fail with ${code}, but the server started`);
}

async function api(ts: TestServer, method: "GET" | "POST" | "PUT" | "DELETE", url: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await ts.server.https.inject({
    method,
    url,
    headers: { authorization: `Bearer ${ts.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: res.body === "" ? {} : res.json<Json>() };
}

async function issue(ts: TestServer, body: Json): Promise<Json> {
  const r = await api(ts, "POST", "/admin/v1/certificates", body);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json;
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe("zero-config start", () => {
  let ts: TestServer;

  beforeAll(async () => {
    ts = await startTestServer({ zeroConfig: true });
  });

  afterAll(async () => {
    await ts?.close();
  });

  it("generates the passphrase and the admin token as owner-only files beside a new CA", async () => {
    expect(ts.env).not.toHaveProperty("SIGNET_CA_PASSPHRASE");
    const passphraseFile = join(ts.home, "secrets", "ca-passphrase");
    for (const f of [passphraseFile, join(ts.home, "admin.token")]) {
      expect(existsSync(f), f).toBe(true);
      expect(mode(f).toString(8), f).toBe("600");
    }
    expect(readFileSync(passphraseFile, "utf8").trim().length).toBeGreaterThanOrEqual(32);
    expect(ts.token).toMatch(/^sgt_admin_/);
    expect(new X509Certificate(readFileSync(join(ts.home, "ca", "root.pem"))).ca).toBe(true);
    expect(mode(join(ts.home, "ca", "intermediate.key")).toString(8)).toBe("600");
    // The token written at first start works.
    expect((await api(ts, "GET", "/admin/v1/provisioners")).status).toBe(200);
  });

  it("records one applied migration per folder, with the file's sha256, in the embedded database", async () => {
    const rows = await ts.server.services.db.raw.query<{ migration_name: string; checksum: string; finished_at: unknown }>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    const folders = readdirSync(migrationsDir(), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(rows.map((r) => r.migration_name)).toEqual(folders);
    for (const r of rows) {
      const sql = readFileSync(join(migrationsDir(), r.migration_name, "migration.sql"));
      expect(r.checksum).toBe(createHash("sha256").update(sql).digest("hex"));
      expect(r.finished_at).not.toBeNull();
    }
  });

  it("never logs the admin token, a created token, the CA passphrase or a private key", async () => {
    const passphrase = readFileSync(join(ts.home, "secrets", "ca-passphrase"), "utf8").trim();
    await issue(ts, { csr: makeCsr({ cn: "logged.example.test" }).pem });
    const created = await api(ts, "POST", "/admin/v1/admin-tokens", { name: "for-the-logs-test" });
    expect(created.status).toBe(201);
    const createdToken = created.json.token as string;
    // Failed attempts: a token that looks real, a near miss of the real one, and Basic credentials.
    const attempted = [`${ts.token.slice(0, -2)}xx`, "sgt_admin_guessedguessedguessedguessedguessed00"];
    for (const t of attempted) {
      const r = await fetchRaw(`${ts.httpsUrl}/admin/v1/provisioners`, { ca: ts.rootPem, headers: { authorization: `Bearer ${t}` } });
      expect(r.status).toBe(401);
    }
    const basic = await fetchRaw(`${ts.httpsUrl}/admin/v1/provisioners`, { ca: ts.rootPem, headers: { authorization: `Basic ${Buffer.from(`admin:${passphrase}`).toString("base64")}` } });
    expect(basic.status).toBe(401);
    // And a request that succeeds with the created token.
    expect((await fetchRaw(`${ts.httpsUrl}/admin/v1/provisioners`, { ca: ts.rootPem, headers: { authorization: `Bearer ${createdToken}` } })).status).toBe(200);

    // The logs did capture these steps, so their silence about secrets means something.
    const all = ts.logs.join("\n");
    expect(all).toContain("admin_token.created");
    expect(all).toContain("admin.auth_failed");
    expect(all).toContain("certificate.issued");
    for (const secret of [ts.token, createdToken, passphrase, ...attempted, Buffer.from(`admin:${passphrase}`).toString("base64"), "PRIVATE KEY"]) {
      const hits = ts.logs.filter((l) => l.includes(secret));
      expect(hits, `a log line contains ${secret.slice(0, 12)}…`).toEqual([]);
    }
  });
});

describe("restarting a home", () => {
  it("a zero-config home restarts with the same CA, passphrase and admin token", async () => {
    const first = await startTestServer({ zeroConfig: true });
    const passphrase = readFileSync(join(first.home, "secrets", "ca-passphrase"), "utf8");
    const serial = (await issue(first, { csr: makeCsr({ cn: "before-restart.example.test" }).pem })).certificate.serial as string;
    await first.close({ keepHome: true });
    const second = await startTestServer({ zeroConfig: true, home: first.home });
    try {
      expect(second.rootPem).toBe(first.rootPem);
      expect(second.token).toBe(first.token);
      expect(readFileSync(join(first.home, "secrets", "ca-passphrase"), "utf8")).toBe(passphrase);
      expect((await fetchRaw(`${second.httpUrl}/roots.pem`)).text).toBe(first.rootPem);
      // Same database: the certificate issued before the restart is there; the old token still works.
      const got = await api(second, "GET", `/admin/v1/certificates/${serial}`);
      expect(got.status).toBe(200);
      expect(got.json.status).toBe("valid");
      // The restart did not bootstrap again: still one admin provisioner and one bootstrap token.
      const tokens = (await api(second, "GET", "/admin/v1/admin-tokens")).json.items as Json[];
      expect(tokens.filter((t) => t.name === "bootstrap")).toHaveLength(1);
      const inits = await second.server.services.db.prisma.auditEvent.count({ where: { event: "ca.initialized" } });
      expect(inits).toBe(1);
    } finally {
      await second.close();
    }
  });

  it("a CA created with SIGNET_CA_PASSPHRASE refuses to start without it, or with a wrong one", async () => {
    const first = await startTestServer();
    const home = first.home;
    await first.close({ keepHome: true });
    try {
      expect(existsSync(join(home, "secrets", "ca-passphrase"))).toBe(false);
      const missing = await expectStartFailure(startTestServer({ home, zeroConfig: true }), "passphrase_required");
      expect(missing.message).toContain("SIGNET_CA_PASSPHRASE");
      // Refusing did not generate a passphrase the keys are not encrypted under.
      expect(existsSync(join(home, "secrets", "ca-passphrase"))).toBe(false);
      await expectStartFailure(startTestServer({ home, env: { SIGNET_CA_PASSPHRASE: "not the right passphrase" } }), "bad_passphrase");
      // The failed starts left the home usable (no stale lock, CA intact).
      const again = await startTestServer({ home });
      try {
        expect(again.rootPem).toBe(first.rootPem);
        expect((await fetchRaw(`${again.httpsUrl}/readyz`, { ca: again.rootPem })).status).toBe(200);
      } finally {
        await again.close({ keepHome: true });
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("a running server", () => {
  let ts: TestServer;

  beforeAll(async () => {
    ts = await startTestServer();
  });

  afterAll(async () => {
    await ts?.close();
  });

  describe("public endpoints", () => {
    it("answers /healthz and /readyz on both ports", async () => {
      for (const base of [ts.httpUrl, ts.httpsUrl]) {
        const opts = { ca: ts.rootPem };
        const health = await fetchRaw(`${base}/healthz`, opts);
        expect(health.status, base).toBe(200);
        expect(health.json()).toEqual({ status: "ok" });
        const ready = await fetchRaw(`${base}/readyz`, opts);
        expect(ready.status, base).toBe(200);
        expect(ready.json()).toEqual({ status: "ready" });
      }
    });

    it("serves Prometheus metrics that count issuances", async () => {
      const line = /^signet_certificates_issued_total\{profile="client",provisioner="admin"\} (\d+)$/m;
      const count = async (base: string): Promise<number> => {
        const r = await fetchRaw(`${base}/metrics`, { ca: ts.rootPem });
        expect(r.status).toBe(200);
        expect(r.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
        expect(r.text).toContain("# TYPE signet_certificates_issued_total counter");
        return Number(line.exec(r.text)?.[1] ?? 0);
      };
      const before = await count(ts.httpUrl);
      await issue(ts, { csr: makeCsr({ cn: "metric.example.test" }).pem });
      expect(await count(ts.httpUrl)).toBe(before + 1);
      expect(await count(ts.httpsUrl)).toBe(before + 1);
    });

    it("serves the root and intermediate as PEM equal to the files in $home/ca", async () => {
      for (const [path, file] of [["/roots.pem", "root.pem"], ["/intermediates.pem", "intermediate.pem"]] as const) {
        const r = await fetchRaw(`${ts.httpUrl}${path}`);
        expect(r.status).toBe(200);
        expect(r.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
        expect(r.text).toBe(readFileSync(join(ts.home, "ca", file), "utf8"));
        expect(r.text.match(PEM_CERT)).toHaveLength(1);
      }
    });

    it("serves the issuing CA as DER at the caIssuers URL written into certificates", async () => {
      const leaf = new X509Certificate((await issue(ts, { csr: makeCsr({ cn: "aia.example.test" }).pem })).pem as string);
      const aia = /CA Issuers - URI:(\S+)/.exec(leaf.infoAccess ?? "")?.[1];
      expect(aia).toBeDefined();
      const url = new URL(aia!);
      expect(url.pathname).toBe(`/certs/${ts.server.services.authority.intermediate.id}.crt`);
      const r = await fetchRaw(`${ts.httpUrl}${url.pathname}`);
      expect(r.status).toBe(200);
      expect(r.headers["content-type"]).toBe("application/pkix-cert");
      const intermediate = new X509Certificate(readFileSync(join(ts.home, "ca", "intermediate.pem")));
      expect(r.body.equals(intermediate.raw)).toBe(true);
      expect(leaf.checkIssued(new X509Certificate(r.body))).toBe(true);

      const root = await fetchRaw(`${ts.httpUrl}/certs/${ts.server.services.authority.root.id}.crt`);
      expect(root.body.equals(new X509Certificate(ts.rootPem).raw)).toBe(true);
      const unknown = await fetchRaw(`${ts.httpUrl}/certs/${"ab".repeat(20)}.crt`);
      expect(unknown.status).toBe(404);
      expect(unknown.json()).toMatchObject({ statusCode: 404, code: "not_found" });
      expect((await fetchRaw(`${ts.httpUrl}/certs/not-an-id.crt`)).status).toBe(400);
    });
  });

  describe("TLS on the HTTPS port", () => {
    it("presents a chain to the root, for 127.0.0.1 and for localhost", async () => {
      expect((await fetchRaw(`${ts.httpsUrl}/healthz`, { ca: ts.rootPem })).status).toBe(200);
      const port = ts.server.httpsPort;
      expect((await fetchRaw(`https://localhost:${port}/healthz`, { ca: ts.rootPem, family: 4 })).status).toBe(200);
      // Without Signet's root the same connection is not trusted.
      await expect(fetchRaw(`${ts.httpsUrl}/healthz`)).rejects.toThrow(/certificate/i);
    });

    it("verifies with openssl s_client against the root", async () => {
      const r = await opensslAsync(["s_client", "-connect", `127.0.0.1:${ts.server.httpsPort}`, "-CAfile", "root.pem", "-servername", "localhost", "-verify_hostname", "localhost"], {
        "root.pem": ts.rootPem,
      });
      expect(r.out).toContain("Verify return code: 0 (ok)");
      expect(r.out).toMatch(/^New, TLSv1\.[23], Cipher is /m);
    });

    it.each([["-tls1_1"], ["-tls1"]])("refuses %s, which the client was willing to speak", async (flag) => {
      const args = ["s_client", "-connect", `127.0.0.1:${ts.server.httpsPort}`, "-servername", "localhost", "-cipher", "DEFAULT@SECLEVEL=0"];
      const r = await opensslAsync([...args, flag]);
      expect(r.code).not.toBe(0);
      expect(r.out).not.toContain("no protocols available"); // the refusal came from the server
      expect(r.out).toMatch(/alert protocol version|unsupported protocol/);
      // The same client settings with TLS 1.2 connect: the refusal is about the version alone.
      const ok = await opensslAsync([...args, "-tls1_2"]);
      expect(ok.out).toMatch(/Protocol\s*:\s*TLSv1\.2/);
    });
  });

  describe("admin mTLS", () => {
    it("accepts a client certificate with the signet:admin role until it is revoked", async () => {
      const key = makeCsr({ cn: "operator-1" });
      const admin = await issue(ts, { csr: key.pem, roles: ["signet:admin"], identity: "operator-1" });
      const plain = makeCsr({ cn: "workload-1" });
      const workload = await issue(ts, { csr: plain.pem, roles: ["inference:invoke"] });
      const asAdmin = () => fetchRaw(`${ts.httpsUrl}/admin/v1/provisioners`, { ca: ts.rootPem, cert: admin.chainPem, key: key.keyPem });

      const ok = await asAdmin();
      expect(ok.status, ok.text).toBe(200);
      expect(ok.json<Json>().items.map((p: Json) => p.name)).toContain("admin");
      // The leaf alone is enough: the server knows the intermediate.
      expect((await fetchRaw(`${ts.httpsUrl}/admin/v1/ca`, { ca: ts.rootPem, cert: admin.pem, key: key.keyPem })).status).toBe(200);

      const refused = await fetchRaw(`${ts.httpsUrl}/admin/v1/provisioners`, { ca: ts.rootPem, cert: workload.chainPem, key: plain.keyPem });
      expect(refused.status).toBe(401);
      expect(refused.json()).toMatchObject({ code: "unauthenticated", message: expect.stringContaining("signet:admin") });

      // What the certificate does is recorded under its serial.
      const put = await fetchRaw(`${ts.httpsUrl}/admin/v1/provisioners/mtls-made`, {
        method: "PUT",
        ca: ts.rootPem,
        cert: admin.chainPem,
        key: key.keyPem,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "admin" }),
      });
      expect(put.status, put.text).toBe(201);
      const events = (await api(ts, "GET", "/admin/v1/audit/events?event=provisioner.created&target=mtls-made")).json.items as Json[];
      expect(events.map((e) => e.actor)).toEqual([`admin-cert:${admin.certificate.serial}`]);

      const revoke = await api(ts, "POST", `/admin/v1/certificates/${admin.certificate.serial}/revoke`, { reason: "keyCompromise" });
      expect(revoke.status).toBe(200);
      // Certificate status is cached for 10 s; a new connection must be refused once that has passed.
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await asAdmin()).status;
        if (status === 401) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(status).toBe(401);
      const failures = (await api(ts, "GET", "/admin/v1/audit/events?event=admin.auth_failed&limit=1000")).json.items as Json[];
      expect(failures.map((e) => e.data.reason)).toEqual(expect.arrayContaining(["certificate_not_admin", "certificate_invalid"]));
    });
  });

  describe("the embedded database", () => {
    it("cannot be opened by a second server while the first runs", async () => {
      const lock = join(ts.home, "db.lock");
      expect(existsSync(lock)).toBe(true);
      const err = await expectStartFailure(startTestServer({ home: ts.home }), "database_locked");
      expect(err.message).toContain(lock);
      // The refused start took nothing from the running one.
      expect(existsSync(lock)).toBe(true);
      expect((await fetchRaw(`${ts.httpsUrl}/readyz`, { ca: ts.rootPem })).status).toBe(200);
      await issue(ts, { csr: makeCsr({ cn: "still-works.example.test" }).pem });
    });
  });
});

const postgres = dbTargets().find((t) => t.name === "postgresql");

describe.skipIf(postgres === undefined)("on PostgreSQL", () => {
  let ts: TestServer;

  beforeAll(async () => {
    ts = await startTestServer({ databaseUrl: await postgres!.create() });
  });

  afterAll(async () => {
    await ts?.close();
    await postgres?.dropAll();
  });

  it("starts on DATABASE_URL, issues, and records each migration with its sha256", async () => {
    expect(ts.env.DATABASE_URL).toMatch(/^postgresql:\/\//);
    expect(ts.server.services.db.kind).toBe("postgresql");
    expect(existsSync(join(ts.home, "db"))).toBe(false);
    const issued = await issue(ts, { csr: makeCsr({ cn: "pg.example.test" }).pem });
    expect((await api(ts, "GET", `/admin/v1/certificates/${issued.certificate.serial}`)).json.status).toBe("valid");

    const rows = await ts.server.services.db.raw.query<{ migration_name: string; checksum: string; finished_at: unknown; rolled_back_at: unknown }>(
      `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    const folders = readdirSync(migrationsDir(), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(folders.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.migration_name)).toEqual(folders);
    for (const r of rows) {
      const sql = readFileSync(join(migrationsDir(), r.migration_name, "migration.sql"));
      expect(r.checksum).toBe(createHash("sha256").update(sql).digest("hex"));
      expect(r.finished_at).not.toBeNull();
      expect(r.rolled_back_at).toBeNull();
    }
  });
});
