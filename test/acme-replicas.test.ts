// Two Signet replicas on one PostgreSQL are one ACME server: a client may carry an order through
// A and B in any interleaving, each request signed with the Replay-Nonce of the response before it
// whichever replica issued it; a revocation through B is what A's OCSP answers; an EAB key created on
// A binds an account on B. Both replicas' validators resolve names through one loopback DNS server
// and fetch http-01 from one responder, so whichever replica validates sees the same proof.
import { execFile } from "node:child_process";
import { createPublicKey, randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { AccountKey, AcmeRawClient, b64u, type AcmeResponse, type Directory } from "./support/acme-raw.js";
import { eabJws } from "./support/acme-flow.js";
import { makeCsr } from "./support/csr.js";
import { dbTargets, postgresqlSkipReason } from "./support/databases.js";
import { fetchRaw, replicaHome, startTestServer, type TestServer } from "./support/server.js";

const NONCE = /^[A-Za-z0-9_-]{16,}$/;
/** How long A's OCSP may take to answer "revoked" for a revocation made through B. */
const OCSP_BOUND_MS = 5_000;
/** Another replica's provisioner change shows once its 5 s read cache expires; the rest is slack. */
const PROVISIONER_BOUND_MS = 10_000;

const postgres = dbTargets().find((t) => t.name === "postgresql");

/** `url` on the replica `c` talks to: the same path on its origin. */
const on = (c: AcmeRawClient, url: string): string => new URL(new URL(url).pathname, c.directoryUrl).toString();

/** Requests through either replica, each signed with the Replay-Nonce of the response before it. */
class NonceRelay {
  constructor(private nonce: string) {}

  async send(what: string, request: (nonce: string) => Promise<AcmeResponse>): Promise<AcmeResponse> {
    const res = await request(this.nonce);
    expect(res.status, `${what}: ${res.status} ${res.text.slice(0, 500)}`).toBeLessThan(500);
    expect(res.nonce, `${what} gave no Replay-Nonce`).toMatch(NONCE);
    this.nonce = res.nonce!;
    return res;
  }

  /** A JWS POST (POST-as-GET when `payload` is undefined) of `url`, on `c`'s replica. */
  post(c: AcmeRawClient, url: string, payload?: unknown): Promise<AcmeResponse> {
    const target = on(c, url);
    return this.send(`POST ${target}`, (nonce) => c.post(target, payload, { nonce }));
  }
}

function expectStatus(res: AcmeResponse, status: number): Record<string, any> {
  expect(res.status, res.text.slice(0, 500)).toBe(status);
  return res.header("content-type")?.startsWith("application/json") ? res.json() : {};
}

/** openssl in a temp dir holding `files`, without blocking the event loop the servers run on. */
function opensslAsync(args: string[], files: Record<string, string>): Promise<{ code: number; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "signet-replicas-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return new Promise((resolve) => {
    execFile("openssl", args, { cwd: dir, timeout: 20_000, encoding: "utf8" }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

const skipped = postgresqlSkipReason ? ` (${postgresqlSkipReason})` : "";

describe.skipIf(postgres === undefined)(`ACME across two replicas on one PostgreSQL${skipped}`, () => {
  let a: AcmeTestbed;
  let b: TestServer;
  const directoryOfA = (provisioner = "acme") => a.directory(provisioner);
  const directoryOfB = (provisioner = "acme") => `${b.httpsUrl}/acme/${provisioner}/directory`;

  beforeAll(async () => {
    const databaseUrl = await postgres!.create();
    a = await startAcmeTestbed({ databaseUrl });
    // Replica B: A's CA files and admin token in its own home, the same database and passphrase, and
    // A's ACME validator settings: the same DNS server and http-01 responder.
    const home = replicaHome(a.signet.home);
    const validator = Object.fromEntries(Object.entries(a.signet.env).filter(([k]) => k.startsWith("SIGNET_ACME_")));
    b = await startTestServer({ databaseUrl, home, env: validator });
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await postgres?.dropAll();
  });

  it("an order carried through both replicas, nonce by nonce, is issued, and its revocation on B is what A's OCSP answers", async () => {
    expect(b.server.services.db.kind).toBe("postgresql");
    const key = AccountKey.generate();
    const onA = await AcmeRawClient.connect(directoryOfA(), a.signet.rootPem, { key });
    const onB = await AcmeRawClient.connect(directoryOfB(), b.rootPem, { key });
    expect(onB.base).not.toBe(onA.base);
    const relay = new NonceRelay(await onB.freshNonce());

    // Account on A.
    const account = await relay.send("newAccount on A", (nonce) => onA.createAccount({ termsOfServiceAgreed: true }, { nonce }));
    expect(expectStatus(account, 201).status).toBe("valid");
    onB.kid = on(onB, onA.kid!);

    // Order on B.
    const name = `replicas-${randomBytes(4).toString("hex")}.acme.test`;
    const created = await relay.post(onB, onB.dir.newOrder, { identifiers: [{ type: "dns", value: name }] });
    const order = expectStatus(created, 201) as { status: string; authorizations: string[]; finalize: string };
    expect(order.status).toBe("pending");
    expect(order.authorizations).toHaveLength(1);

    // Authorization read on A, its challenge started on B.
    const authzUrl = order.authorizations[0]!;
    const authz = expectStatus(await relay.post(onA, authzUrl), 200) as { status: string; challenges: { type: string; url: string; token: string }[] };
    expect(authz.status).toBe("pending");
    const challenge = authz.challenges.find((c) => c.type === "http-01")!;
    expect(challenge, JSON.stringify(authz)).toBeDefined();
    a.http01.set(challenge.token, onA.keyAuthorization(challenge.token));
    expectStatus(await relay.post(onB, challenge.url, {}), 200);

    // Polled on A until the validation, wherever it ran, is seen.
    let view: Record<string, any> = {};
    for (let i = 0; i < 100; i++) {
      view = expectStatus(await relay.post(onA, authzUrl), 200);
      if (view.status !== "pending") break;
      await sleep(100);
    }
    expect(view.status, JSON.stringify(view)).toBe("valid");
    expect(a.dns.queries.map((q) => q.name)).toContain(name);

    // Finalized on A, downloaded on B.
    const csr = makeCsr({ sans: { dns: [name] } });
    let finalized = expectStatus(await relay.post(onA, order.finalize, { csr: b64u(csr.der) }), 200);
    for (let i = 0; i < 100 && finalized.status === "processing"; i++) {
      await sleep(100);
      finalized = expectStatus(await relay.post(onA, created.location!), 200);
    }
    expect(finalized.status, JSON.stringify(finalized)).toBe("valid");
    const download = await relay.post(onB, finalized.certificate as string);
    expect(download.status, download.text).toBe(200);
    expect(download.header("content-type")).toBe("application/pem-certificate-chain");
    const chain = download.text;
    expect(opensslVerify(a.rootFile, chain, "sslserver")).toMatch(/: OK$/m);
    const [leafPem, intermediatePem] = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
    const leaf = new X509Certificate(leafPem!);
    expect(leaf.subjectAltName).toBe(`DNS:${name}`);
    expect(leaf.publicKey.export({ format: "der", type: "spki" })).toEqual(createPublicKey(csr.privateKey).export({ format: "der", type: "spki" }));

    // A's OCSP has answered "good", so the revocation through B must replace what A keeps.
    const files = { "leaf.pem": leafPem!, "int.pem": intermediatePem!, "root.pem": a.signet.rootPem };
    const ocspOnA = () =>
      opensslAsync(["ocsp", "-url", `${a.signet.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "leaf.pem", "-CAfile", "root.pem", "-verify_other", "int.pem"], files);
    const before = await ocspOnA();
    expect(before.out).toContain("Response verify OK");
    expect(before.out).toMatch(/^leaf\.pem: good$/m);

    const revoked = await relay.post(onB, onB.dir.revokeCert, { certificate: b64u(Buffer.from(leaf.raw)), reason: 1 });
    expect(revoked.status, revoked.text).toBe(200);

    const deadline = Date.now() + OCSP_BOUND_MS;
    let after = await ocspOnA();
    while (!/^leaf\.pem: revoked$/m.test(after.out) && Date.now() < deadline) {
      await sleep(100);
      after = await ocspOnA();
    }
    expect(after.out).toMatch(/^leaf\.pem: revoked$/m);
    expect(after.out).toContain("Response verify OK");
    expect(after.out).toMatch(/Reason: keyCompromise/);
    const serial = (finalized.certificate as string).split("/").at(-1)!;
    expect(serial.replace(/^0+/, "")).toBe(leaf.serialNumber.toLowerCase().replace(/^0+/, ""));
    const record = await admin<{ status: string; revocationReason: string }>(a.signet, "GET", `/admin/v1/certificates/${serial}`);
    expect(record.body).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });
  });

  it("an EAB key created on A binds an account on B once B sees the provisioner requires one; a single-use key offered to both binds one account", async () => {
    const provisioner = `eab-${randomBytes(4).toString("hex")}`;
    const put = (options: Record<string, unknown>) => admin(a.signet, "PUT", `/admin/v1/provisioners/${provisioner}`, { type: "acme", profile: "client-server", options });
    const directoryOnB = async () => {
      const r = await fetchRaw(directoryOfB(provisioner), { ca: b.rootPem });
      expect(r.status, r.text).toBe(200);
      return r.json<Directory>();
    };
    expect((await put({})).status).toBe(201);
    // B reads the provisioner, and caches it, before A makes it require EAB.
    expect((await directoryOnB()).meta).toMatchObject({ externalAccountRequired: false });
    expect((await put({ requireEab: true })).status).toBe(200);
    const deadline = Date.now() + PROVISIONER_BOUND_MS;
    let directory = await directoryOnB();
    while (directory.meta?.externalAccountRequired !== true && Date.now() < deadline) {
      await sleep(200);
      directory = await directoryOnB();
    }
    expect(directory.meta).toMatchObject({ externalAccountRequired: true });

    const k = await admin<{ kid: string; hmacKey: string; provisioner: string }>(a.signet, "POST", "/admin/v1/acme/eab", { provisioner });
    expect(k.status, JSON.stringify(k.body)).toBe(201);
    const c = await AcmeRawClient.connect(directoryOfB(provisioner), b.rootPem);
    const unbound = await c.createAccount();
    expect(unbound.status, unbound.text).toBe(401);
    expect(unbound.json().type).toBe("urn:ietf:params:acme:error:externalAccountRequired");
    const bound = await c.createAccount({ termsOfServiceAgreed: true, externalAccountBinding: eabJws(k.body.kid, k.body.hmacKey, c.key.jwk, c.dir.newAccount) });
    expect(bound.status, bound.text).toBe(201);
    expect(c.kid!.startsWith(`${b.httpsUrl}/acme/${provisioner}/account/`)).toBe(true);

    const listed = await admin<{ items: { kid: string; state: string; accountId: string | null }[] }>(a.signet, "GET", `/admin/v1/acme/eab?provisioner=${provisioner}`);
    expect(listed.body.items).toEqual([expect.objectContaining({ kid: k.body.kid, state: "used", accountId: c.kid!.split("/").at(-1) })]);

    // A single-use key offered to both replicas at once binds exactly one account.
    const once = await admin<{ kid: string; hmacKey: string }>(a.signet, "POST", "/admin/v1/acme/eab", { provisioner });
    expect(once.status, JSON.stringify(once.body)).toBe(201);
    const racers = [await AcmeRawClient.connect(directoryOfA(provisioner), a.signet.rootPem), await AcmeRawClient.connect(directoryOfB(provisioner), b.rootPem)];
    const nonces = await Promise.all(racers.map((r) => r.freshNonce()));
    const results = await Promise.all(
      racers.map((r, i) => r.createAccount({ termsOfServiceAgreed: true, externalAccountBinding: eabJws(once.body.kid, once.body.hmacKey, r.key.jwk, r.dir.newAccount) }, { nonce: nonces[i]! })),
    );
    expect(results.map((r) => r.status).sort(), results.map((r) => r.text).join("\n")).toEqual([201, 403]);
    expect(results.find((r) => r.status === 403)!.json().type).toBe("urn:ietf:params:acme:error:unauthorized");
  });
});
