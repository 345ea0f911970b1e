// `signet token join` and `signet policy test` as an operator runs them, against a zero-config
// server (its "attest" provisioner and default policy), with --json and as text.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchRaw, serverEnv, startTestServer, type TestServer } from "./support/server.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("signet token join and signet policy test", () => {
  let ts: TestServer;
  let env: Record<string, string>;
  let dir: string;

  const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((done) => {
      execFile(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
        done({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
      });
    });

  beforeAll(async () => {
    ts = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), "signet-attest-cli-"));
    env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? tmpdir(),
      TMPDIR: tmpdir(),
      ...serverEnv(ts.home),
      SIGNET_HTTPS_PORT: String(ts.server.httpsPort),
      SIGNET_HTTP_PORT: String(ts.server.httpPort),
    };
  }, 60_000);
  afterAll(async () => {
    await ts?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("token join prints a single-use token once; policy test shows the decision without spending it", async () => {
    const made = await cli(["token", "join", "--claim", "identity=web-1", "--claim", "dns=web-1.internal", "--claim", "nodeId=vm-1", "--ttl", "10m", "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const t = JSON.parse(made.stdout) as { token: string; claims: Record<string, unknown>; attestUrl: string };
    expect(t.token).toMatch(/^sjt_/);
    expect(t.claims).toEqual({ identity: "web-1", dns: ["web-1.internal"], nodeId: "vm-1" });
    expect(t.attestUrl).toMatch(/\/attest\/attest$/);

    const file = join(dir, "evidence.json");
    writeFileSync(file, JSON.stringify({ type: "join-token", token: t.token }));
    const tested = await cli(["policy", "test", file, "--json"]);
    expect(tested.code, tested.stderr).toBe(0);
    const d = JSON.parse(tested.stdout) as { decision: { allow: boolean; spiffeId: string; dns: string[]; reasons: string[] } };
    expect(d.decision).toMatchObject({ allow: true, spiffeId: "spiffe://signet.internal/web-1", dns: ["web-1.internal"] });
    expect(d.decision.reasons[0]).toBe("join-token-with-names");
    const text = await cli(["policy", "test", file]);
    expect(text.stdout).toMatch(/allowed by policy join-token-with-names/);
    expect(text.stdout).toMatch(/SPIFFE ID: spiffe:\/\/signet\.internal\/web-1/);

    // Not spent by the test: the zero-config flow still hands out EAB credentials for acme-attested.
    const r = await fetchRaw(`${ts.httpsUrl}/attest/attest`, { method: "POST", ca: ts.rootPem, headers: { "content-type": "application/json" }, body: JSON.stringify({ evidence: { type: "join-token", token: t.token } }) });
    expect(r.status, r.text).toBe(201);
    expect((r.json() as { acme: { directory: string } }).acme.directory).toMatch(/\/acme\/acme-attested\/directory$/);
  });

  it("policy test of evidence no policy allows exits 3 and says why; token join refuses a bad claim", async () => {
    const made = JSON.parse((await cli(["token", "join", "--claim", "role=x", "--json"])).stdout) as { token: string };
    const file = join(dir, "bare.txt");
    writeFileSync(file, made.token);
    const r = await cli(["policy", "test", file, "--type", "join-token"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^denied \(policy version/m);
    expect(r.stdout).toMatch(/reason: no posture policy allows/i);
    const bad = await cli(["token", "join", "--claim", "no-equals-sign", "--json"]);
    expect(bad.code).toBe(1);
  });
});
