// Conformance: lego (Debian's lego 4.x, the Go client) against a running Signet, once per challenge
// type: http-01 and tls-alpn-01 with lego's own servers on ports Signet's validator is pointed at,
// dns-01 (a wildcard too) through lego's `exec` provider writing into the test DNS server. Each run
// uses its own provisioner offering that one challenge, so lego cannot pick another. The http-01
// provisioner requires External Account Binding and carries the renewal and revocation checks.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../ca/x509/index.js";
import { admin, freePort, opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { dbTargets } from "./support/databases.js";
import { describeRun, findPeer, opensslOcsp, runPeer, type PeerRun } from "./support/peers.js";

const lego = findPeer("lego");
const EMAIL = "a@example.internal";
const EXEC_HOOK = fileURLToPath(new URL("./support/lego-dns-exec.mjs", import.meta.url));
/** One lego command; lego's own certificate timeout (--cert.timeout) is 30 s. */
const RUN_TIMEOUT = 90_000;

const PROVISIONERS = {
  "lego-http": { requireEab: true, challenges: ["http-01"] },
  "lego-tls": { challenges: ["tls-alpn-01"] },
  "lego-dns": { challenges: ["dns-01"], wildcards: true },
} as const;

const CERTS = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

describe.skipIf(lego.skip)("lego", () => {
  // With SIGNET_REQUIRE_PEERS=1 a missing binary is a failed test, not only a failed hook.
  it("is installed", () => void lego.require());

  for (const target of dbTargets()) {
    describe(`lego against Signet (${target.name})`, () => {
      let bed: AcmeTestbed;
      const dirs: string[] = [];

      const newDir = () => {
        const d = mkdtempSync(join(tmpdir(), "signet-lego-"));
        dirs.push(d);
        return d;
      };
      /** lego with its state in `path`: global options (server, account, challenge, names), then the command. */
      const run = (path: string, provisioner: keyof typeof PROVISIONERS, globals: string[], command: string[], env: Record<string, string> = {}): Promise<PeerRun> =>
        runPeer(lego.require(), ["--server", bed.directory(provisioner), "--email", EMAIL, "--accept-tos", "--path", path, ...globals, ...command], {
          env: { LEGO_CA_CERTIFICATES: bed.rootFile, ...env },
          timeoutMs: RUN_TIMEOUT,
        });
      /** What lego wrote for `name`: the chain in NAME.crt (leaf + issuer) and the issuer alone in NAME.issuer.crt. */
      const files = (path: string, name: string) => {
        const crt = join(path, "certificates", `${name}.crt`);
        const chain = readFileSync(crt, "utf8");
        return { crt, issuer: join(path, "certificates", `${name}.issuer.crt`), chain, serial: parseCertificate(chain.match(CERTS)![0]!).serialHex };
      };
      /** openssl verifies the chain; NAME.issuer.crt is the chain's second certificate. */
      const verified = (path: string, name: string, names: string[]) => {
        const f = files(path, name);
        expect(opensslVerify(bed.rootFile, f.chain, "sslserver")).toContain("OK");
        const certs = f.chain.match(CERTS)!;
        expect(readFileSync(f.issuer, "utf8").trim()).toBe(certs[1]!.trim());
        expect(parseCertificate(certs[0]!).sans.dns.sort()).toEqual([...names].sort());
        return f;
      };
      const newEabKey = async () => {
        const res = await admin<{ kid: string; hmacKey: string }>(bed.signet, "POST", "/admin/v1/acme/eab", { provisioner: "lego-http" });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body;
      };

      beforeAll(async () => {
        lego.require();
        // lego binds both challenge ports itself. The provisioners issue the server profile: a new
        // provisioner's profile is "client", which openssl's sslserver purpose rightly refuses.
        bed = await startAcmeTestbed({ databaseUrl: await target.create(), http01Port: await freePort(), tlsAlpnPort: await freePort() });
        for (const [name, options] of Object.entries(PROVISIONERS)) {
          const put = await admin(bed.signet, "PUT", `/admin/v1/provisioners/${name}`, { type: "acme", profile: "server", options });
          expect(put.status, JSON.stringify(put.body)).toBe(201);
        }
      }, 60_000);
      afterAll(async () => {
        await bed?.close();
        await target.dropAll();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      });

      describe("http-01 with External Account Binding", () => {
        const NAME = "web.lego.test";
        let path: string;
        // lego refuses every command, renew and revoke included, on a directory that says
        // externalAccountRequired unless --eab --kid --hmac are given, even with an account on disk.
        let eab: string[];
        const http = () => ["--http", "--http.port", `127.0.0.1:${bed.http01Port}`, "-d", NAME];

        it("fails to register with a wrong EAB HMAC key, and gets no certificate", async () => {
          const { kid } = await newEabKey();
          const wrongKey = Buffer.alloc(32, 7).toString("base64url");
          const path = newDir();
          const r = await run(path, "lego-http", ["--eab", "--kid", kid, `--hmac=${wrongKey}`, ...http()], ["run"]);
          expect(r.code, describeRun(r)).not.toBe(0);
          expect(`${r.stdout}${r.stderr}`, describeRun(r)).toMatch(/urn:ietf:params:acme:error:unauthorized.*external account binding/i);
          expect(existsSync(join(path, "certificates", `${NAME}.crt`))).toBe(false);
        }, 2 * RUN_TIMEOUT);

        it("registers with EAB and gets a certificate through http-01 that openssl verifies", async () => {
          const { kid, hmacKey } = await newEabKey();
          path = newDir();
          eab = ["--eab", "--kid", kid, `--hmac=${hmacKey}`];
          const r = await run(path, "lego-http", [...eab, ...http()], ["run"]);
          expect(r.code, describeRun(r)).toBe(0);
          verified(path, NAME, [NAME]);
        }, 2 * RUN_TIMEOUT);

        it("renew --days 9999 gets a new certificate that openssl verifies", async () => {
          const before = files(path, NAME).serial;
          const r = await run(path, "lego-http", [...eab, ...http()], ["renew", "--days", "9999", "--no-random-sleep"]);
          expect(r.code, describeRun(r)).toBe(0);
          expect(verified(path, NAME, [NAME]).serial).not.toBe(before);
        }, 2 * RUN_TIMEOUT);

        it("revoke --reason 1: the admin API and OCSP say revoked (keyCompromise)", async () => {
          const f = files(path, NAME);
          const r = await run(path, "lego-http", [...eab, "-d", NAME], ["revoke", "--reason", "1", "--keep"]);
          expect(r.code, describeRun(r)).toBe(0);

          const got = await admin<{ status: string; revocationReason: string | null }>(bed.signet, "GET", `/admin/v1/certificates/${f.serial}`);
          expect(got.status).toBe(200);
          expect(got.body).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });

          const ocsp = await opensslOcsp({ url: `${bed.signet.httpUrl}/ocsp`, issuerFile: f.issuer, certFile: f.crt, rootFile: bed.rootFile });
          expect(ocsp.status, ocsp.out).toBe("revoked");
          expect(ocsp.out).toMatch(/Reason: keyCompromise/);
          expect(ocsp.out).toContain("Response verify OK");
        }, 2 * RUN_TIMEOUT);
      });

      it("tls-alpn-01: lego's TLS server answers Signet's validator; openssl verifies the certificate", async () => {
        const NAME = "tls.lego.test";
        const path = newDir();
        const r = await run(path, "lego-tls", ["--tls", "--tls.port", `127.0.0.1:${bed.tlsAlpnPort}`, "-d", NAME], ["run"]);
        expect(r.code, describeRun(r)).toBe(0);
        verified(path, NAME, [NAME]);
      }, 2 * RUN_TIMEOUT);

      it("dns-01 through lego's exec provider, a wildcard included; openssl verifies the certificate", async () => {
        const NAME = "dns.lego.test";
        const path = newDir();
        const r = await run(
          path,
          "lego-dns",
          // lego checks propagation against the test DNS server only, and stops at the first answer.
          ["--dns", "exec", "--dns.resolvers", bed.dns.address, "--dns.disable-cp", "-d", NAME, "-d", `*.${NAME}`],
          ["run"],
          // Both names use one TXT name, so lego solves them one after the other (by default 60 s apart).
          { EXEC_PATH: EXEC_HOOK, SIGNET_TEST_DNS_CONTROL: bed.dns.controlUrl, EXEC_POLLING_INTERVAL: "1", EXEC_PROPAGATION_TIMEOUT: "30", EXEC_SEQUENCE_INTERVAL: "1" },
        );
        expect(r.code, describeRun(r)).toBe(0);
        verified(path, NAME, [NAME, `*.${NAME}`]);
        expect(bed.dns.queries.some((q) => q.name === `_acme-challenge.${NAME}` && q.type === "TXT")).toBe(true);
      }, 2 * RUN_TIMEOUT);
    });
  }
});
