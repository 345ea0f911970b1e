// The operator's side of SCEP against a real server on the embedded database: one-time challenges
// (created, listed, spent once, never shown again) and manual approval of pending requests, through
// the admin API and through `signet scep ...` run as a separate process.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { STATUS_CODES } from "node:http";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProvisionerRecord } from "../ca/ports.js";
import type { Services } from "../src/services.js";
import { TEST_HTTP_URL } from "./support/ca-fixture.js";
import { makeCsr } from "./support/csr.js";
import { serverEnv, startTestServer, type TestServer } from "./support/server.js";

// Response bodies are checked field by field; their static type adds nothing here.
type Json = Record<string, any>;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MANUAL = "scep-manual";
const SUITE = { timeout: 180_000 };

const sha256hex = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

describe("SCEP admin API and CLI", SUITE, () => {
  let ts: TestServer;
  let s: Services;
  let manual: ProvisionerRecord;

  function call(method: string, url: string, opts: { body?: unknown; token?: string | null } = {}): Promise<LightMyRequestResponse> {
    const token = opts.token === undefined ? ts.token : opts.token;
    const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    return ts.server.https.inject({ method: method as "GET", url, headers, ...(opts.body === undefined ? {} : { payload: JSON.stringify(opts.body) }) });
  }

  function expectStatus(res: LightMyRequestResponse, status: number): Json {
    expect(res.statusCode, res.body).toBe(status);
    return res.json<Json>();
  }

  function expectError(res: LightMyRequestResponse, status: number, code: string): Json {
    expect(res.statusCode, res.body).toBe(status);
    const body = res.json<Json>();
    expect(body).toMatchObject({ statusCode: status, code, error: STATUS_CODES[status] });
    return body;
  }

  const createChallenge = async (body: Json) => expectStatus(await call("POST", "/admin/v1/scep/challenges", { body }), 201);
  const listChallenges = async (query = "") => expectStatus(await call("GET", `/admin/v1/scep/challenges${query}`), 200).items as Json[];
  const listRequests = async (query = "") => expectStatus(await call("GET", `/admin/v1/scep/requests${query}`), 200).items as Json[];
  const auditEvents = async (event: string) => expectStatus(await call("GET", `/admin/v1/audit/events?limit=1000&event=${event}`), 200).items as Json[];

  /** A PKCSReq awaiting approval, recorded as the SCEP front end records one, with a real CSR. */
  async function pendingRequest(cn: string): Promise<{ id: string; csrDer: Buffer }> {
    const csr = makeCsr({ cn, sans: { dns: [cn] } });
    const claimed = await s.scep.store.claim(
      {
        id: randomUUID(),
        provisionerId: manual.id,
        transactionId: randomBytes(16).toString("hex"),
        requestHash: sha256hex(Buffer.concat([Buffer.from("PKCSReq"), csr.der])),
        keyFingerprint: sha256hex(randomBytes(32)),
        messageType: "PKCSReq",
        csr: csr.der,
        subject: `CN=${cn}`,
        names: { dns: [cn], ip: [] },
        authorization: { kind: "approval" },
      },
      new Date(Date.now() - 120_000),
    );
    expect(claimed).not.toBeNull();
    const pending = await s.scep.store.update(claimed!.id, { status: "pending" }, ["processing"]);
    expect(pending?.status).toBe("pending");
    return { id: claimed!.id, csrDer: csr.der };
  }

  beforeAll(async () => {
    ts = await startTestServer();
    s = ts.server.services;
    expectStatus(
      await call("PUT", `/admin/v1/provisioners/${MANUAL}`, { body: { type: "scep", profile: "client", options: { manualApproval: true, dynamicChallenges: false } } }),
      201,
    );
    manual = (await s.provisioners.get(MANUAL))!;
  });

  afterAll(async () => {
    await ts?.close();
  });

  describe("one-time challenges", () => {
    it("creates a challenge shown once, with the provisioner's SCEP URL and the normalised binding", async () => {
      const before = Date.now();
      const c = await createChallenge({ provisioner: "scep", commonName: "printer-1", dns: ["Printer-1.Example.TEST"], roles: ["printer"], nodeId: "node-7", note: "lobby printer" });
      expect(c).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        challenge: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
        provisioner: "scep",
        expiresAt: expect.any(String),
        binding: { commonName: "printer-1", dns: ["printer-1.example.test"], roles: ["printer"], nodeId: "node-7" },
        url: `${TEST_HTTP_URL}/scep/scep`,
      });
      // The default lifetime is an hour.
      const expires = Date.parse(c.expiresAt);
      expect(expires).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1_000);
    });

    it("lists it as usable; spent once it is used, and cannot be spent again; an expired one is expired", async () => {
      const c = await createChallenge({ provisioner: "scep", ttlSeconds: 600, note: "single use" });
      expect((await listChallenges("?provisioner=scep")).find((i) => i.id === c.id)).toEqual({
        id: c.id,
        provisioner: "scep",
        state: "usable",
        binding: {},
        note: "single use",
        createdBy: expect.stringMatching(/^admin-token:/),
        createdAt: expect.any(String),
        expiresAt: c.expiresAt,
        usedAt: null,
      });

      const scep = (await s.provisioners.get("scep"))!;
      expect(await s.scep.store.spendChallenge(scep.id, sha256hex(c.challenge), randomUUID(), new Date())).toMatchObject({ id: c.id });
      expect(await s.scep.store.spendChallenge(scep.id, sha256hex(c.challenge), randomUUID(), new Date())).toBeNull();
      const used = (await listChallenges()).find((i) => i.id === c.id)!;
      expect(used).toMatchObject({ state: "used", usedAt: expect.any(String) });

      const expiredId = randomUUID();
      await s.scep.store.createChallenge({
        id: expiredId,
        provisionerId: scep.id,
        secretHash: sha256hex(randomBytes(24)),
        binding: {},
        note: null,
        createdBy: "test",
        createdAt: new Date(Date.now() - 7_200_000),
        expiresAt: new Date(Date.now() - 3_600_000),
      });
      expect((await listChallenges()).find((i) => i.id === expiredId)?.state).toBe("expired");
    });

    it("never lists a secret or its hash", async () => {
      const c = await createChallenge({ provisioner: "scep" });
      const text = (await call("GET", "/admin/v1/scep/challenges")).body;
      expect(text).toContain(c.id);
      expect(text).not.toContain(c.challenge);
      expect(text).not.toContain(sha256hex(c.challenge));
      expect(text).not.toMatch(/secret|hash/i);
    });

    it("refuses an unknown provisioner (404), one that is not SCEP (400), one without one-time challenges (409), and bad input (400)", async () => {
      expectError(await call("POST", "/admin/v1/scep/challenges", { body: { provisioner: "no-such-provisioner" } }), 404, "unknown_provisioner");
      const notScep = expectError(await call("POST", "/admin/v1/scep/challenges", { body: { provisioner: "acme" } }), 400, "bad_request");
      expect(notScep.message).toMatch(/acme is of type acme/);
      expectError(await call("GET", "/admin/v1/scep/challenges?provisioner=acme"), 400, "bad_request");
      expectError(await call("GET", "/admin/v1/scep/requests?provisioner=acme"), 400, "bad_request");
      expectError(await call("POST", "/admin/v1/scep/challenges", { body: { provisioner: MANUAL } }), 409, "conflict");
      for (const body of [{ provisioner: "scep", ttlSeconds: 59 }, { provisioner: "scep", ttlSeconds: 2_592_001 }, { provisioner: "scep", secret: "x" }, {}]) {
        expectError(await call("POST", "/admin/v1/scep/challenges", { body }), 400, "bad_request");
      }
    });

    it("audits each creation, without the secret", async () => {
      const c = await createChallenge({ provisioner: "scep", identity: "audited", note: "audit me" });
      const e = (await auditEvents("scep.challenge.created")).find((x) => x.target === c.id);
      expect(e).toMatchObject({ actor: expect.stringMatching(/^admin-token:/), data: { provisioner: "scep", binding: { identity: "audited" }, note: "audit me" } });
      expect(JSON.stringify(e)).not.toContain(c.challenge);
    });
  });

  describe("requests awaiting approval", () => {
    it("lists a pending request without its CSR; approving issues a certificate on record; approving again is 409", async () => {
      const { id, csrDer } = await pendingRequest("approve-me.example.test");
      const res = await call("GET", `/admin/v1/scep/requests?provisioner=${MANUAL}`);
      expect(res.body).not.toContain(csrDer.toString("base64"));
      const listed = (res.json<Json>().items as Json[]).find((t) => t.id === id);
      expect(listed).toEqual({
        id,
        provisioner: MANUAL,
        transactionId: expect.any(String),
        messageType: "PKCSReq",
        status: "pending",
        subject: "CN=approve-me.example.test",
        names: { dns: ["approve-me.example.test"], ip: [] },
        failInfo: null,
        reason: null,
        certificateSerial: null,
        decidedBy: null,
        decidedAt: null,
        createdAt: expect.any(String),
      });

      const approved = expectStatus(await call("POST", `/admin/v1/scep/requests/${id}/approve`), 200);
      expect(approved).toMatchObject({ id, status: "success", certificateSerial: expect.stringMatching(/^[0-9a-f]+$/), decidedBy: expect.stringMatching(/^admin-token:/), decidedAt: expect.any(String) });
      const cert = expectStatus(await call("GET", `/admin/v1/certificates/${approved.certificateSerial}`), 200);
      expect(cert).toMatchObject({ serial: approved.certificateSerial, status: "valid", provisioner: MANUAL, commonName: "approve-me.example.test", dnsNames: ["approve-me.example.test"] });

      expectError(await call("POST", `/admin/v1/scep/requests/${id}/approve`), 409, "conflict");
      expectError(await call("POST", `/admin/v1/scep/requests/${id}/reject`, { body: {} }), 409, "conflict");
      expect((await listRequests()).map((t) => t.id)).not.toContain(id);
      expect((await listRequests("?status=success")).find((t) => t.id === id)).toMatchObject({ status: "success", certificateSerial: approved.certificateSerial });
    });

    it("regression: concurrent approvals (or an approve racing a reject) sign at most one certificate, and the loser is 409", async () => {
      const { id } = await pendingRequest("race.example.test");
      const [a, b, c] = await Promise.all([
        call("POST", `/admin/v1/scep/requests/${id}/approve`),
        call("POST", `/admin/v1/scep/requests/${id}/approve`),
        call("POST", `/admin/v1/scep/requests/${id}/reject`, { body: {} }),
      ]);
      const codes = [a, b, c].map((r) => r.statusCode).sort();
      expect(codes.filter((x) => x === 200)).toHaveLength(1);
      expect(codes.filter((x) => x === 409)).toHaveLength(2);
      const issued = expectStatus(await call("GET", `/admin/v1/certificates?commonName=race.example.test`), 200).items as Json[] | undefined;
      const serials = (issued ?? []).filter((x) => x.commonName === "race.example.test" && x.status === "valid");
      expect(serials.length).toBeLessThanOrEqual(1);
    });

    it("rejecting makes a request a failure with the reason, with or without a body", async () => {
      const a = await pendingRequest("reject-me.example.test");
      const rejected = expectStatus(await call("POST", `/admin/v1/scep/requests/${a.id}/reject`, { body: { reason: "not on the inventory" } }), 200);
      expect(rejected).toMatchObject({ id: a.id, status: "failure", failInfo: "badRequest", reason: "not on the inventory", certificateSerial: null, decidedBy: expect.stringMatching(/^admin-token:/) });
      expectError(await call("POST", `/admin/v1/scep/requests/${a.id}/approve`), 409, "conflict");

      const b = await pendingRequest("reject-me-too.example.test");
      expect(expectStatus(await call("POST", `/admin/v1/scep/requests/${b.id}/reject`), 200)).toMatchObject({ status: "failure", reason: "rejected by an operator" });
      const failures = (await listRequests("?status=failure")).map((t) => t.id);
      expect(failures).toEqual(expect.arrayContaining([a.id, b.id]));
    });

    it("answers 404 for an unknown request and 400 for a bad status", async () => {
      expectError(await call("POST", `/admin/v1/scep/requests/${randomUUID()}/approve`), 404, "not_found");
      expectError(await call("POST", "/admin/v1/scep/requests/not-a-request/reject", { body: {} }), 404, "not_found");
      expectError(await call("GET", "/admin/v1/scep/requests?status=approved"), 400, "bad_request");
    });

    it("audits approvals and rejections", async () => {
      const a = await pendingRequest("audit-approve.example.test");
      const b = await pendingRequest("audit-reject.example.test");
      expectStatus(await call("POST", `/admin/v1/scep/requests/${a.id}/approve`), 200);
      expectStatus(await call("POST", `/admin/v1/scep/requests/${b.id}/reject`, { body: { reason: "audit" } }), 200);
      expect((await auditEvents("scep.request.approved")).find((e) => e.target === a.id)).toMatchObject({
        actor: expect.stringMatching(/^admin-token:/),
        data: { provisioner: MANUAL, subject: "CN=audit-approve.example.test" },
      });
      expect((await auditEvents("scep.request.rejected")).find((e) => e.target === b.id)).toMatchObject({ data: { provisioner: MANUAL, reason: "audit" } });
    });
  });

  it("requires admin authentication on every SCEP route", async () => {
    const id = randomUUID();
    for (const [method, url] of [
      ["POST", "/admin/v1/scep/challenges"],
      ["GET", "/admin/v1/scep/challenges"],
      ["GET", "/admin/v1/scep/requests"],
      ["POST", `/admin/v1/scep/requests/${id}/approve`],
      ["POST", `/admin/v1/scep/requests/${id}/reject`],
    ] as const) {
      const res = await call(method, url, { token: null, ...(method === "POST" ? { body: { provisioner: "scep" } } : {}) });
      expectError(res, 401, "unauthenticated");
    }
    expect((await listChallenges()).length).toBeGreaterThan(0);
  });

  it("describes the SCEP routes in the OpenAPI document under the scep tag", async () => {
    const doc = expectStatus(await call("GET", "/admin/openapi.json"), 200);
    const ops = [
      doc.paths["/admin/v1/scep/challenges"]?.post,
      doc.paths["/admin/v1/scep/challenges"]?.get,
      doc.paths["/admin/v1/scep/requests"]?.get,
      doc.paths["/admin/v1/scep/requests/{id}/approve"]?.post,
      doc.paths["/admin/v1/scep/requests/{id}/reject"]?.post,
    ];
    for (const op of ops) expect(op?.tags).toEqual(["scep"]);
  });

  describe("signet scep", () => {
    let env: Record<string, string>;

    interface CliResult {
      code: number;
      stdout: string;
      stderr: string;
    }

    /** `signet ...` as a user runs it: a separate process under tsx, against the running server. */
    function cli(args: string[]): Promise<CliResult> {
      return new Promise((done) => {
        execFile(process.execPath, ["--import", "tsx", "src/cli/run.ts", ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
          done({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
        });
      });
    }

    async function json<T = Json>(args: string[]): Promise<T> {
      const r = await cli([...args, "--json"]);
      expect(r.code, `signet ${args.join(" ")}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout) as T;
    }

    beforeAll(() => {
      env = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? tmpdir(),
        TMPDIR: tmpdir(),
        ...serverEnv(ts.home),
        SIGNET_HTTPS_PORT: String(ts.server.httpsPort),
        SIGNET_HTTP_PORT: String(ts.server.httpPort),
      };
    });

    it("challenge prints the secret once with a warning and the URL; --json gives the binding; challenges lists it", async () => {
      const [human, created] = await Promise.all([
        cli(["scep", "challenge", "--cn", "cam-1", "--note", "cli human"]),
        json(["scep", "challenge", "--ttl", "2h", "--cn", "cam-2", "--dns", "cam-2.example.test,Cam-2b.example.test", "--ip", "10.0.0.2", "--identity", "cam", "--node", "n-2", "--roles", "camera,video"]),
      ]);
      expect(human.code, human.stderr).toBe(0);
      const secret = /^challenge:\s+(\S+)$/m.exec(human.stdout)?.[1];
      expect(secret, human.stdout).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(human.stdout).toMatch(/shown once/);
      expect(human.stdout).toMatch(new RegExp(`^url:\\s+${TEST_HTTP_URL}/scep/scep$`, "m"));
      expect(human.stdout).toMatch(/^bound to:\s+CN=cam-1$/m);

      expect(created).toMatchObject({
        provisioner: "scep",
        url: `${TEST_HTTP_URL}/scep/scep`,
        binding: { commonName: "cam-2", dns: ["cam-2.example.test", "cam-2b.example.test"], ip: ["10.0.0.2"], identity: "cam", nodeId: "n-2", roles: ["camera", "video"] },
      });
      expect(Date.parse(created.expiresAt) - Date.now()).toBeGreaterThan(7_200_000 - 60_000);

      const listed = (await json<{ items: Json[] }>(["scep", "challenges", "--provisioner", "scep"])).items;
      expect(listed.find((c) => c.id === created.id)).toMatchObject({ state: "usable", binding: { commonName: "cam-2" } });
      expect(listed.find((c) => c.binding.commonName === "cam-1")).toMatchObject({ state: "usable", note: "cli human" });
      expect(JSON.stringify(listed)).not.toContain(secret);
      expect(JSON.stringify(listed)).not.toContain(created.challenge);
    });

    it("pending lists requests awaiting approval; approve and reject decide them", async () => {
      const a = await pendingRequest("cli-approve.example.test");
      const b = await pendingRequest("cli-reject.example.test");
      const pending = (await json<{ items: Json[] }>(["scep", "pending", "--provisioner", MANUAL])).items.map((t) => t.id);
      expect(pending).toEqual(expect.arrayContaining([a.id, b.id]));

      const [approved, rejected] = await Promise.all([json(["scep", "approve", a.id]), json(["scep", "reject", b.id, "--reason", "unknown device"])]);
      expect(approved).toMatchObject({ id: a.id, status: "success", certificateSerial: expect.stringMatching(/^[0-9a-f]+$/) });
      expect(rejected).toMatchObject({ id: b.id, status: "failure", reason: "unknown device" });
      expect((await s.certificates.get(approved.certificateSerial))?.status).toBe("valid");
    });

    it("fails with exit code 1 and the error code: as JSON on stdout, or one line on stderr", async () => {
      const id = randomUUID();
      const [asJson, human, wrongType] = await Promise.all([cli(["scep", "approve", id, "--json"]), cli(["scep", "reject", id]), cli(["scep", "challenge", "--provisioner", "acme"])]);
      expect(asJson.code).toBe(1);
      expect(JSON.parse(asJson.stdout)).toMatchObject({ error: { code: "not_found", status: 404 } });
      expect(human.code).toBe(1);
      expect(human.stdout).toBe("");
      expect(human.stderr).toMatch(/^signet: no SCEP request .* \(not_found\)\n$/);
      expect(wrongType.code).toBe(1);
      expect(wrongType.stderr).toMatch(/is of type acme.*\(bad_request\)\n$/);
    });
  });
});
