// The `signet` command as a user runs it: a separate process (under tsx) talking to a real server over
// HTTPS, or working on a stopped $SIGNET_HOME. OpenSSL judges the files it writes.
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin } from "./support/acme.js";
import { TEST_PASSPHRASE } from "./support/ca-fixture.js";
import { makeCsr, openssl } from "./support/csr.js";
import { serverEnv, startTestServer, type TestServer } from "./support/server.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLI_TIMEOUT_MS = 60_000;
/** The passphrase of root keys the CLI writes out: never the CA passphrase. */
const OFFLINE_PASSPHRASE = "offline root passphrase for the CLI tests";
// Each CLI run starts node and tsx (a few seconds on a busy 2-core machine); a test makes several.
const SUITE = { timeout: 180_000 };

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Only what the CLI needs: nothing leaks in from the developer's environment (DATABASE_URL...). */
function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? tmpdir(), TMPDIR: tmpdir() };
}

function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/run.ts", ...args],
      { cwd: ROOT, env, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        done({
          code,
          stdout,
          stderr,
          json<T>() {
            try {
              return JSON.parse(stdout) as T;
            } catch {
              throw new Error(`not JSON (exit ${code}):\n${stdout}\nstderr:\n${stderr}`);
            }
          },
        });
      },
    );
  });
}

/** Runs the CLI and insists on success. */
async function ok(args: string[], env: Record<string, string>): Promise<CliResult> {
  const r = await cli(args, env);
  expect(r.code, `signet ${args.join(" ")}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
}

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** `openssl verify` of the leaf at the top of a chain file, against a root. */
function verifyLeaf(rootPem: string, chainPem: string, purpose: string) {
  return openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", "root.pem", "-untrusted", "chain.crt", "chain.crt"], {
    "root.pem": rootPem,
    "chain.crt": chainPem,
  });
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

describe("signet CLI against a running server", SUITE, () => {
  let server: TestServer;
  let env: Record<string, string>;
  let work: string;
  let issuedSerial: string;

  beforeAll(async () => {
    server = await startTestServer();
    env = {
      ...baseEnv(),
      ...serverEnv(server.home),
      SIGNET_HTTPS_PORT: String(server.server.httpsPort),
      SIGNET_HTTP_PORT: String(server.server.httpPort),
    };
    work = tempDir("signet-cli-work-");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("--help lists every command", async () => {
    const r = await ok(["--help"], baseEnv());
    for (const c of ["init", "serve", "issue", "certs", "revoke", "unblock", "blocks", "eab", "revocations", "audit", "provisioners", "policy", "admin-token", "ca"]) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, "m"));
    }
  });

  it("issues for a new key: a chain openssl verifies as a client certificate and a 0600 key file", async () => {
    const prefix = join(work, "x");
    const r = await ok(
      ["issue", "--cn", "x", "--dns", "x.internal", "--roles", "a,b", "--spiffe-id", "spiffe://td/ns/n/sa/s", "--node", "n1", "--out", prefix, "--json"],
      env,
    );
    const body = r.json<{ certificate: { serial: string; status: string; roles: string[]; spiffeId: string; nodeId: string; dnsNames: string[] }; files: Record<string, string> }>();
    expect(body.certificate.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(body.certificate).toMatchObject({ status: "valid", roles: ["a", "b"], spiffeId: "spiffe://td/ns/n/sa/s", nodeId: "n1", dnsNames: ["x.internal"] });
    expect(body.files).toEqual({ certificate: `${prefix}.crt`, key: `${prefix}.key` });
    issuedSerial = body.certificate.serial;

    const chain = readFileSync(`${prefix}.crt`, "utf8");
    const v = verifyLeaf(server.rootPem, chain, "sslclient");
    expect(v.out).toContain("chain.crt: OK");
    expect(v.code).toBe(0);
    expect(mode(`${prefix}.key`)).toBe(0o600);
    // The key is the certificate's.
    const certKey = openssl(["x509", "-in", "c.pem", "-pubkey", "-noout"], { "c.pem": chain });
    const fileKey = openssl(["pkey", "-in", "k.pem", "-pubout"], { "k.pem": readFileSync(`${prefix}.key`, "utf8") });
    expect(certKey.code).toBe(0);
    expect(certKey.out).toBe(fileKey.out);
  });

  it("issues from a CSR file", async () => {
    const csr = makeCsr({ cn: "from-csr", sans: { dns: ["from-csr.internal"] } });
    const file = join(work, "req.pem");
    writeFileSync(file, csr.pem);
    const r = await ok(["issue", "--csr", file, "--node", "n2", "--json"], env);
    const body = r.json<{ certificate: { serial: string; commonName: string; dnsNames: string[] }; chainPem: string; keyPem?: string }>();
    expect(body.certificate.commonName).toBe("from-csr");
    expect(body.certificate.dnsNames).toEqual(["from-csr.internal"]);
    expect(body.keyPem).toBeUndefined();
    expect(verifyLeaf(server.rootPem, body.chainPem, "sslclient").code).toBe(0);
  });

  it("lists, filters and shows certificates", async () => {
    const all = (await ok(["certs", "list", "--json"], env)).json<{ items: Array<{ serial: string; nodeId: string | null; status: string }> }>();
    expect(all.items.map((c) => c.serial)).toContain(issuedSerial);
    const n1 = (await ok(["certs", "list", "--node", "n1", "--json"], env)).json<{ items: Array<{ serial: string }> }>();
    expect(n1.items.map((c) => c.serial)).toEqual([issuedSerial]);
    const valid = (await ok(["certs", "list", "--status", "valid", "--json"], env)).json<{ items: Array<{ serial: string; status: string }> }>();
    expect(valid.items.map((c) => c.serial)).toContain(issuedSerial);
    expect(valid.items.every((c) => c.status === "valid")).toBe(true);
    const revoked = (await ok(["certs", "list", "--status", "revoked", "--node", "n1", "--json"], env)).json<{ items: unknown[] }>();
    expect(revoked.items).toEqual([]);

    const shown = (await ok(["certs", "show", issuedSerial, "--json"], env)).json<{ serial: string; status: string; pem: string }>();
    expect(shown).toMatchObject({ serial: issuedSerial, status: "valid" });
    const pem = (await ok(["certs", "show", issuedSerial, "--pem"], env)).stdout;
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(pem).toBe(shown.pem);
    // It is the leaf that `issue --out` wrote at the top of the chain.
    expect(readFileSync(join(work, "x.crt"), "utf8").startsWith(pem)).toBe(true);
  });

  it("revokes once; a second revoke fails with already_revoked, as JSON on stdout or one line on stderr", async () => {
    const r = (await ok(["revoke", issuedSerial, "--reason", "keyCompromise", "--json"], env)).json<{ serial: string; status: string; revocationReason: string; revokedAt: string }>();
    expect(r).toMatchObject({ serial: issuedSerial, status: "revoked", revocationReason: "keyCompromise" });
    expect(Number.isNaN(Date.parse(r.revokedAt))).toBe(false);

    const again = await cli(["revoke", issuedSerial, "--reason", "keyCompromise", "--json"], env);
    expect(again.code).toBe(1);
    expect(again.json<{ error: { code: string; message: string } }>().error.code).toBe("already_revoked");

    const human = await cli(["revoke", issuedSerial], env);
    expect(human.code).toBe(1);
    expect(human.stdout).toBe("");
    const lines = human.stderr.split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^signet: .*\(already_revoked\)$/);
  });

  it("revoke --node revokes what the node holds and blocks it; unblock lifts it; the feed lists the revocations", async () => {
    const issued: string[] = [];
    for (const cn of ["cli-node-a", "cli-node-b"]) {
      issued.push((await ok(["issue", "--cn", cn, "--node", "cli-node", "--out", join(work, cn), "--json"], env)).json<{ certificate: { serial: string } }>().certificate.serial);
    }
    const before = (await ok(["revocations", "--since", "latest", "--json"], env)).json<{ cursor: string }>().cursor;

    const human = await ok(["revoke", "--node", "cli-node", "--reason", "keyCompromise", "--note", "INC-1"], env);
    for (const serial of issued) expect(human.stdout).toContain(`revoked ${serial}`);
    expect(human.stdout).toContain("2 certificates revoked (keyCompromise); node cli-node is blocked from enrolment until: signet unblock --node cli-node");

    const refused = await cli(["issue", "--cn", "cli-node-c", "--node", "cli-node", "--json"], env);
    expect(refused.code).toBe(1);
    expect(refused.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "blocked" });
    const blocks = (await ok(["blocks", "--json"], env)).json<{ items: Array<{ kind: string; value: string; reason: string }> }>();
    expect(blocks.items).toContainEqual(expect.objectContaining({ kind: "node", value: "cli-node", reason: "INC-1" }));

    const feed = (await ok(["revocations", "--since", before, "--json"], env)).json<{ items: Array<{ serial: string; nodeId: string; reason: string }>; cursor: string }>();
    expect(feed.items.map((i) => i.serial).sort()).toEqual([...issued].sort());
    expect(feed.items.every((i) => i.nodeId === "cli-node" && i.reason === "keyCompromise")).toBe(true);
    expect(BigInt(feed.cursor)).toBeGreaterThan(BigInt(before));

    expect((await ok(["unblock", "--node", "cli-node"], env)).stdout).toMatch(/^unblocked node cli-node/);
    await ok(["issue", "--cn", "cli-node-c", "--node", "cli-node", "--json"], env);
    const twice = await cli(["unblock", "--node", "cli-node", "--json"], env);
    expect(twice.json<{ error: { code: string } }>().error.code).toBe("not_found");
    const both = await cli(["revoke", "--node", "x", "--identity", "y"], env);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/give only one of --node, --identity, --account/);
  });

  it("verifies the audit chain and lists the revocation", async () => {
    const v = (await ok(["audit", "verify", "--json"], env)).json<{ ok: boolean; checked: number }>();
    expect(v.ok).toBe(true);
    expect(v.checked).toBeGreaterThan(0);
    const list = (await ok(["audit", "list", "--json", "--event", "certificate.revoked", "--target", issuedSerial], env)).json<{ items: Array<{ event: string; target: string }> }>();
    expect(list.items.map((e) => [e.event, e.target])).toEqual([["certificate.revoked", issuedSerial]]);
  });

  it("creates and lists provisioners", async () => {
    const put = (await ok(["provisioners", "put", "web", "--type", "admin", "--profile", "server", "--default-ttl", "1h", "--max-ttl", "2h", "--json"], env)).json();
    expect(put).toMatchObject({ name: "web", type: "admin", profile: "server", defaultLifetimeSeconds: 3600, maxLifetimeSeconds: 7200, enabled: true });
    const list = (await ok(["provisioners", "list", "--json"], env)).json<{ items: Array<{ name: string; profile: string }> }>();
    expect(list.items.find((p) => p.name === "web")?.profile).toBe("server");
    expect(list.items.map((p) => p.name)).toContain("admin");
  });

  it("sets and reads the authority-wide name policy, which then refuses names", async () => {
    const file = join(work, "policy.json");
    writeFileSync(file, JSON.stringify({ deny: { dns: ["*.forbidden.internal"] } }));
    const set = (await ok(["policy", "set", "--file", file, "--json"], env)).json<{ version: number; policy: unknown }>();
    expect(set.version).toBe(1);
    const got = (await ok(["policy", "get", "--json"], env)).json<{ version: number; policy: { deny: { dns: string[] } } }>();
    expect(got).toEqual({ version: 1, policy: { deny: { dns: ["*.forbidden.internal"] } } });
    const refused = await cli(["issue", "--dns", "a.forbidden.internal", "--json"], env);
    expect(refused.code).toBe(1);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe("forbidden_name");
  });

  it("creates an admin token that authenticates as SIGNET_ADMIN_TOKEN", async () => {
    const created = (await ok(["admin-token", "create", "--name", "ci", "--ttl", "1h", "--json"], env)).json<{ token: string; info: { name: string; expiresAt: string } }>();
    expect(created.token).toMatch(/^sgt_admin_/);
    expect(created.info.name).toBe("ci");
    const info = (await ok(["ca", "info", "--json"], { ...env, SIGNET_ADMIN_TOKEN: created.token })).json<{ root: { id: string } }>();
    expect(info.root.id).toMatch(/^[0-9a-f]+$/);
    // The variable is what authenticated: a wrong one is refused even though admin.token is present.
    const wrong = await cli(["ca", "info", "--json"], { ...env, SIGNET_ADMIN_TOKEN: `${created.token}x` });
    expect(wrong.code).toBe(1);
    expect(wrong.json<{ error: { code: string } }>().error.code).toBe("unauthenticated");
  });

  it("shows the CA", async () => {
    const info = (await ok(["ca", "info", "--json"], env)).json<{ root: { pem: string; keyOnline: boolean; id: string }; intermediate: { pem: string; keyOnline: boolean; id: string } }>();
    expect(info.root.pem).toBe(server.rootPem);
    expect(info.root.keyOnline).toBe(true);
    expect(info.intermediate.keyOnline).toBe(true);
    expect(info.intermediate.pem).toBe(readFileSync(join(server.home, "ca", "intermediate.pem"), "utf8"));
    expect(info.intermediate.id).not.toBe(info.root.id);
  });

  describe("eab", () => {
    interface EabKey {
      kid: string;
      provisioner: string;
      state: string;
      singleUse: boolean;
      note: string | null;
      expiresAt: string | null;
      revokedAt: string | null;
    }
    type CreatedEabKey = EabKey & { hmacKey: string; directory: string };
    /** A base64url HMAC key of 32 bytes: 43 characters, no padding. */
    const HMAC_KEY = /^[A-Za-z0-9_-]{43}$/;
    /** Every EAB key these tests create, with its HMAC key: none may ever be printed again. */
    const created: Array<{ kid: string; hmacKey: string }> = [];
    let revokedKid: string;

    const list = async (args: string[] = []) => (await ok(["eab", "list", ...args, "--json"], env)).json<{ items: EabKey[] }>().items;

    it("create prints the kid and the HMAC key once: as text, and as JSON with the directory", async () => {
      const human = (await ok(["eab", "create", "--note", "cli human"], env)).stdout;
      const kid = /^kid:\s+(eab_\S+)$/m.exec(human)?.[1];
      const hmacKey = /^hmac key:\s+(\S+)$/m.exec(human)?.[1];
      expect(kid, human).toBeDefined();
      expect(hmacKey, human).toMatch(HMAC_KEY);
      expect(Buffer.from(hmacKey!, "base64url")).toHaveLength(32);
      expect(human).toMatch(/^single use$/m);
      created.push({ kid: kid!, hmacKey: hmacKey! });

      const k = (await ok(["eab", "create", "--json"], env)).json<CreatedEabKey>();
      expect(k).toMatchObject({
        provisioner: "acme",
        state: "usable",
        singleUse: true,
        expiresAt: null,
        directory: `https://127.0.0.1:${server.server.httpsPort}/acme/acme/directory`,
      });
      expect(k.kid).toMatch(/^eab_\S+$/);
      expect(k.kid).not.toBe(kid);
      expect(k.hmacKey).toMatch(HMAC_KEY);
      expect(Buffer.from(k.hmacKey, "base64url")).toHaveLength(32);
      expect(k.hmacKey).not.toBe(hmacKey);
      created.push({ kid: k.kid, hmacKey: k.hmacKey });
    });

    it("--reusable makes a key that is not single use; --ttl 1h makes it expire an hour after its creation", async () => {
      const before = Date.now();
      const k = (await ok(["eab", "create", "--reusable", "--ttl", "1h", "--note", "fleet", "--json"], env)).json<CreatedEabKey>();
      const after = Date.now();
      created.push({ kid: k.kid, hmacKey: k.hmacKey });
      expect(k).toMatchObject({ singleUse: false, state: "usable", note: "fleet" });
      const expires = Date.parse(k.expiresAt ?? "");
      expect(expires).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
      expect(expires).toBeLessThanOrEqual(after + 3_600_000 + 1_000);
    });

    it("list shows the keys as usable and never their HMAC key", async () => {
      const items = await list();
      for (const { kid } of created) expect(items.find((i) => i.kid === kid)).toMatchObject({ provisioner: "acme", state: "usable" });
      expect(items.find((i) => i.kid === created[0]!.kid)).toMatchObject({ singleUse: true, note: "cli human" });
      expect(items.find((i) => i.kid === created[2]!.kid)).toMatchObject({ singleUse: false, note: "fleet" });
      const json = (await ok(["eab", "list", "--provisioner", "acme", "--json"], env)).stdout;
      const human = (await ok(["eab", "list"], env)).stdout;
      for (const out of [json, human]) {
        expect(out).not.toMatch(/hmac/i);
        for (const { kid, hmacKey } of created) {
          expect(out).toContain(kid);
          expect(out).not.toContain(hmacKey);
        }
      }
      expect(human).toMatch(new RegExp(`^${created[0]!.kid}\\s+acme\\s+usable\\s+single-use\\b`, "m"));
      expect(human).toMatch(new RegExp(`^${created[2]!.kid}\\s+acme\\s+usable\\s+reusable\\b`, "m"));
    });

    it("revoke makes a key revoked; revoking it again fails with exit code 1, as JSON on stdout or one line on stderr", async () => {
      revokedKid = created[1]!.kid;
      const r = (await ok(["eab", "revoke", revokedKid, "--json"], env)).json<EabKey>();
      expect(r).toMatchObject({ kid: revokedKid, state: "revoked" });
      expect(Number.isNaN(Date.parse(r.revokedAt ?? ""))).toBe(false);
      expect((await list()).find((i) => i.kid === revokedKid)?.state).toBe("revoked");

      const again = await cli(["eab", "revoke", revokedKid, "--json"], env);
      expect(again.code).toBe(1);
      const error = again.json<{ error: { code: string; message: string; status: number } }>().error;
      expect(error).toMatchObject({ code: "already_revoked", status: 409 });
      expect(error.message).toContain(revokedKid);
      const unknown = await cli(["eab", "revoke", "eab_no_such_key", "--json"], env);
      expect(unknown.json<{ error: { code: string } }>().error.code).toBe("not_found");

      const human = await cli(["eab", "revoke", revokedKid], env);
      expect(human.code).toBe(1);
      expect(human.stdout).toBe("");
      const lines = human.stderr.split("\n").filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^signet: .*${revokedKid}.*\\(already_revoked\\)$`));
    });

    it("refuses a provisioner that is not ACME, and one that does not exist", async () => {
      const system = await cli(["eab", "create", "--provisioner", "signet-system", "--json"], env);
      expect(system.code).toBe(1);
      const systemError = system.json<{ error: { code: string; message: string } }>().error;
      expect(systemError.code).toBe("bad_request");
      expect(systemError.message).toMatch(/signet-system is of type admin; EAB keys belong to ACME provisioners/);

      const unknown = await cli(["eab", "create", "--provisioner", "no-such-provisioner"], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stdout).toBe("");
      expect(unknown.stderr).toMatch(/^signet: no provisioner named "no-such-provisioner" \(unknown_provisioner\)\n$/);

      const listed = await cli(["eab", "list", "--provisioner", "signet-system", "--json"], env);
      expect(listed.code).toBe(1);
      expect(listed.json<{ error: { code: string } }>().error.code).toBe("bad_request");
      // Nothing was created by the refusals.
      expect((await list()).map((i) => i.kid).sort()).toEqual(created.map((c) => c.kid).sort());
    });

    it("the audit log records each key's creation and the revocation, without key material", async () => {
      type Event = { event: string; actor: string; target: string; data: Record<string, unknown> };
      const events = async (event: string) => {
        const r = await admin<{ items: Event[] }>(server, "GET", `/admin/v1/audit/events?event=${event}&limit=1000`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body.items;
      };
      const createdEvents = await events("acme.eab.created");
      expect(createdEvents.map((e) => e.target).sort()).toEqual(created.map((c) => `eab:${c.kid}`).sort());
      expect(createdEvents.find((e) => e.target === `eab:${created[2]!.kid}`)?.data).toMatchObject({ provisioner: "acme", singleUse: false, note: "fleet" });
      const revokedEvents = await events("acme.eab.revoked");
      expect(revokedEvents).toEqual([expect.objectContaining({ event: "acme.eab.revoked", target: `eab:${revokedKid}`, data: { kid: revokedKid } })]);
      const text = JSON.stringify([...createdEvents, ...revokedEvents]);
      for (const { hmacKey } of created) expect(text).not.toContain(hmacKey);
    });
  });

  it("says it cannot reach Signet when nothing listens on the port", async () => {
    const port = await freePort();
    const r = await cli(["certs", "list"], { ...env, SIGNET_HTTPS_PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach Signet/);
    expect(r.stderr).toContain(`:${port}`);
    expect(r.stderr).toContain("(unreachable)");
  });
});

describe("signet init and the commands that work on a stopped home", SUITE, () => {
  const passEnv = (home: string): Record<string, string> => ({ ...baseEnv(), ...serverEnv(home), SIGNET_LOG_LEVEL: "warn" });

  it("creates a CA and the first admin token, then refuses to initialise again", async () => {
    const home = tempDir("signet-cli-init-");
    const r = (await ok(["init", "--json"], passEnv(home))).json<Record<string, unknown>>();
    expect(r).toMatchObject({
      home,
      rootCertificate: join(home, "ca", "root.pem"),
      intermediateCertificate: join(home, "ca", "intermediate.pem"),
      adminTokenFile: join(home, "admin.token"),
      rootKeyOnline: true,
      imported: false,
    });
    expect(openssl(["x509", "-in", "r.pem", "-noout", "-subject"], { "r.pem": readFileSync(join(home, "ca", "root.pem")) }).out).toContain("Signet Root CA");
    expect(mode(join(home, "admin.token"))).toBe(0o600);
    expect(readFileSync(join(home, "admin.token"), "utf8")).toMatch(/^sgt_admin_\S+\n$/);

    const again = await cli(["init", "--json"], passEnv(home));
    expect(again.code).toBe(1);
    expect(again.json<{ error: { code: string } }>().error.code).toBe("ca_already_initialized");
  });

  it("refuses to initialise without a passphrase, and writes no CA", async () => {
    const home = tempDir("signet-cli-nopass-");
    const { SIGNET_CA_PASSPHRASE: _omitted, ...env } = passEnv(home);
    const r = await cli(["init", "--json"], env);
    expect(r.code).toBe(1);
    expect(r.json<{ error: { code: string } }>().error.code).toBe("passphrase_required");
    expect(existsSync(join(home, "ca"))).toBe(false);
  });

  it("creates the key types asked for", async () => {
    const home = tempDir("signet-cli-keytypes-");
    await ok(["init", "--root-key-type", "RSA-3072", "--key-type", "P-384", "--json"], passEnv(home));
    const text = (f: string) => openssl(["x509", "-in", "c.pem", "-noout", "-text"], { "c.pem": readFileSync(join(home, "ca", f)) }).out;
    const root = text("root.pem");
    expect(root).toContain("rsaEncryption");
    expect(root).toContain("Public-Key: (3072 bit)");
    const intermediate = text("intermediate.pem");
    expect(intermediate).toContain("id-ecPublicKey");
    expect(intermediate).toContain("NIST CURVE: P-384");
    // The RSA root signed the P-384 intermediate.
    expect(intermediate).toContain("Signature Algorithm: sha256WithRSAEncryption");
  });

  it("keeps an offline root off the home: only the encrypted file holds it, under a passphrase of its own", async () => {
    const home = tempDir("signet-cli-offline-");
    const keyDir = tempDir("signet-cli-offline-key-");
    const out = join(keyDir, "root-offline.key");

    // No default passphrase for the offline root, and never the CA's own.
    const none = await cli(["init", "--offline-root", out, "--json"], passEnv(home));
    expect(none.code).toBe(1);
    const noneError = none.json<{ error: { code: string; message: string } }>().error;
    expect(noneError.code).toBe("passphrase_required");
    expect(noneError.message).toContain("--offline-root-passphrase-file");
    expect(noneError.message).toContain("SIGNET_ROOT_EXPORT_PASSPHRASE");
    const same = await cli(["init", "--offline-root", out, "--json"], { ...passEnv(home), SIGNET_ROOT_EXPORT_PASSPHRASE: TEST_PASSPHRASE });
    expect(same.code).toBe(1);
    expect(same.json<{ error: { code: string } }>().error.code).toBe("config_invalid");
    expect(existsSync(join(home, "ca"))).toBe(false);
    expect(existsSync(out)).toBe(false);

    const passFile = join(keyDir, "offline-passphrase");
    writeFileSync(passFile, `${OFFLINE_PASSPHRASE}\n`, { mode: 0o600 });
    const r = (await ok(["init", "--offline-root", out, "--offline-root-passphrase-file", passFile, "--json"], passEnv(home))).json<{
      rootKeyOnline: boolean;
    }>();
    expect(r.rootKeyOnline).toBe(false);
    expect(existsSync(join(home, "ca", "root.key"))).toBe(false);
    expect(existsSync(join(home, "ca", "intermediate.key"))).toBe(true);
    expect(mode(out)).toBe(0o600);
    const keyPem = readFileSync(out, "utf8");
    expect(keyPem).toContain("ENCRYPTED PRIVATE KEY");
    expect(openssl(["pkey", "-in", "k.pem", "-passin", `pass:${TEST_PASSPHRASE}`, "-noout"], { "k.pem": keyPem }).code).not.toBe(0);
    const pub = openssl(["pkey", "-in", "k.pem", "-passin", `pass:${OFFLINE_PASSPHRASE}`, "-pubout"], { "k.pem": keyPem });
    expect(pub.code).toBe(0);
    const rootPub = openssl(["x509", "-in", "r.pem", "-pubkey", "-noout"], { "r.pem": readFileSync(join(home, "ca", "root.pem")) });
    expect(pub.out).toBe(rootPub.out);
    const exports = JSON.parse(readFileSync(join(home, "ca", "ca.json"), "utf8")).rootKeyExports;
    expect(exports).toEqual([{ at: expect.any(String), removed: true, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/), outFile: out }]);
  });

  it("imports a CA made by openssl, and verifies the audit chain of the stopped home locally", async () => {
    const ossl = tempDir("signet-cli-ossl-");
    writeFileSync(
      join(ossl, "root.cnf"),
      "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=Imported Root CA\n[v3_root]\nbasicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    );
    writeFileSync(
      join(ossl, "int.ext"),
      "[v3_int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    );
    const run = (args: string[]) => {
      const r = openssl([...args.map((a) => a.replace("@", `${ossl}/`))]);
      expect(r.code, r.out).toBe(0);
    };
    run(["req", "-x509", "-config", "@root.cnf", "-extensions", "v3_root", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "@root.key", "-out", "@root.pem", "-days", "3650"]);
    run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "@int.key", "-out", "@int.csr", "-subj", "/CN=Imported Intermediate CA"]);
    run(["x509", "-req", "-in", "@int.csr", "-CA", "@root.pem", "-CAkey", "@root.key", "-set_serial", "4242", "-out", "@int.pem", "-days", "1825", "-extfile", "@int.ext", "-extensions", "v3_int"]);

    const home = tempDir("signet-cli-import-");
    const r = (
      await ok(
        ["init", "--import-root-cert", join(ossl, "root.pem"), "--import-intermediate-cert", join(ossl, "int.pem"), "--import-intermediate-key", join(ossl, "int.key"), "--json"],
        passEnv(home),
      )
    ).json<{ imported: boolean; rootKeyOnline: boolean; adminTokenFile: string }>();
    expect(r).toMatchObject({ imported: true, rootKeyOnline: false, adminTokenFile: join(home, "admin.token") });
    const fingerprint = (pem: string | Buffer) => openssl(["x509", "-in", "c.pem", "-noout", "-fingerprint", "-sha256"], { "c.pem": pem }).out;
    expect(fingerprint(readFileSync(join(home, "ca", "root.pem")))).toBe(fingerprint(readFileSync(join(ossl, "root.pem"))));
    expect(fingerprint(readFileSync(join(home, "ca", "intermediate.pem")))).toBe(fingerprint(readFileSync(join(ossl, "int.pem"))));
    expect(existsSync(join(home, "ca", "root.key"))).toBe(false);

    // init recorded the import, the admin provisioner and the admin token: three chained events.
    const v = (await ok(["audit", "verify", "--local", "--json"], passEnv(home))).json<{ ok: boolean; checked: number }>();
    expect(v).toEqual({ ok: true, checked: 3 });
  });

  it("exports the root key and removes it; a server started afterwards still issues leaves", { timeout: 300_000 }, async () => {
    const home = tempDir("signet-cli-export-");
    await ok(["init", "--json"], passEnv(home));
    const outDir = tempDir("signet-cli-export-key-");
    const out = join(outDir, "root-export.key");
    const none = await cli(["ca", "export-root-key", "--out", out, "--remove", "--json"], passEnv(home));
    expect(none.code).toBe(1);
    const noneError = none.json<{ error: { code: string; message: string } }>().error;
    expect(noneError.code).toBe("passphrase_required");
    expect(noneError.message).toContain("--passphrase-file");
    expect(noneError.message).toContain("SIGNET_ROOT_EXPORT_PASSPHRASE");
    const sameFile = join(outDir, "same-passphrase");
    writeFileSync(sameFile, `${TEST_PASSPHRASE}\n`, { mode: 0o600 });
    const same = await cli(["ca", "export-root-key", "--out", out, "--remove", "--passphrase-file", sameFile, "--json"], passEnv(home));
    expect(same.code).toBe(1);
    expect(same.json<{ error: { code: string } }>().error.code).toBe("config_invalid");
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(home, "ca", "root.key"))).toBe(true);

    const r = (
      await ok(["ca", "export-root-key", "--out", out, "--remove", "--json"], { ...passEnv(home), SIGNET_ROOT_EXPORT_PASSPHRASE: OFFLINE_PASSPHRASE })
    ).json();
    expect(r).toEqual({ exported: out, removed: true });
    expect(existsSync(join(home, "ca", "root.key"))).toBe(false);
    const keyPem = readFileSync(out, "utf8");
    const pub = openssl(["pkey", "-in", "k.pem", "-passin", `pass:${OFFLINE_PASSPHRASE}`, "-pubout"], { "k.pem": keyPem });
    expect(pub.code).toBe(0);
    expect(pub.out).toBe(openssl(["x509", "-in", "r.pem", "-pubkey", "-noout"], { "r.pem": readFileSync(join(home, "ca", "root.pem")) }).out);
    // Recorded for the server to audit (the CLI cannot open the database a server holds).
    const metadata = JSON.parse(readFileSync(join(home, "ca", "ca.json"), "utf8"));
    expect(metadata).toMatchObject({ rootKeyOffline: true, rootKeyExports: [{ removed: true, outFile: out }] });

    // The stopped home's audit chain is intact and records the CA's creation.
    expect((await ok(["audit", "verify", "--local", "--json"], passEnv(home))).json()).toMatchObject({ ok: true });

    const server = await startTestServer({ home });
    try {
      const env = { ...passEnv(home), SIGNET_HTTPS_PORT: String(server.server.httpsPort), SIGNET_HTTP_PORT: String(server.server.httpPort) };
      const info = (await ok(["ca", "info", "--json"], env)).json<{ root: { keyOnline: boolean }; intermediate: { keyOnline: boolean } }>();
      expect(info.root.keyOnline).toBe(false);
      expect(info.intermediate.keyOnline).toBe(true);
      mkdirSync(join(home, "out"));
      const prefix = join(home, "out", "leaf");
      await ok(["issue", "--cn", "after-export", "--out", prefix, "--json"], env);
      const v = verifyLeaf(server.rootPem, readFileSync(`${prefix}.crt`, "utf8"), "sslclient");
      expect(v.out).toContain("chain.crt: OK");
    } finally {
      await server.close({ keepHome: true });
    }
  });
});
