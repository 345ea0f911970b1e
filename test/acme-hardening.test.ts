// Regressions from the review of the ACME server: each test is named after what it pins.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChallengeValidator, NonceService } from "../acme/index.js";
import { isLinkLocal } from "../acme/validator.js";
import { startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { AcmeRawClient } from "./support/acme-raw.js";

/** A base64url string whose last character differs only in the bits decoding ignores. */
function respell(b64u: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const spare = (6 - ((Buffer.from(b64u, "base64url").length * 8) % 6)) % 6;
  if (spare === 0) throw new Error("no spare bits in this length");
  const last = alphabet.indexOf(b64u.at(-1)!);
  return b64u.slice(0, -1) + alphabet[last ^ 1]!;
}

describe("nonces have one spelling", () => {
  it("a spent nonce respelled through base64url's spare bits is refused, not spent again", async () => {
    const used = new Set<string>();
    const nonces = new NonceService(Buffer.alloc(32, 7), { consumeNonce: async (n) => (used.has(n) ? false : (used.add(n), true)) }, { lifetimeSeconds: 60 });
    const n = nonces.issue();
    expect(await nonces.spend(n, nonces.check(n) as Date)).toBe(true);
    const other = respell(n);
    expect(Buffer.from(other, "base64url").equals(Buffer.from(n, "base64url"))).toBe(true);
    expect(nonces.check(other)).toBe("the nonce was not issued by this server");
  });
});

describe("the validator", () => {
  let drip: Server;
  let port: number;
  beforeAll(async () => {
    // Answers 200 and then one byte every 300 ms, forever: an idle timeout never fires.
    drip = createServer((_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => res.write("x"), 300);
      res.on("close", () => clearInterval(t));
    });
    await new Promise<void>((r) => drip.listen(0, "127.0.0.1", r));
    port = (drip.address() as { port: number }).port;
  });
  afterAll(() => {
    drip.closeAllConnections();
    drip.close();
  });

  it("gives each attempt one deadline, however slowly the target answers", async () => {
    const v = new ChallengeValidator({ http01Port: port, tlsAlpn01Port: 1, resolvers: null, timeoutMs: 1000 });
    const started = Date.now();
    const p = await v.validate("http-01", { type: "ip", value: "127.0.0.1" }, "tok", "tok.thumb");
    expect(Date.now() - started).toBeLessThan(2500);
    expect(p).toMatchObject({ type: "urn:ietf:params:acme:error:connection" });
    expect(p!.detail).toMatch(/did not complete within 1s/);
  });

  it("never quotes a response body that is not shaped like a key authorization", async () => {
    const secret = createServer((_req, res) => res.end("AWS_SECRET=abc123 path=/latest/meta-data"));
    await new Promise<void>((r) => secret.listen(0, "127.0.0.1", r));
    try {
      const v = new ChallengeValidator({ http01Port: (secret.address() as { port: number }).port, tlsAlpn01Port: 1, resolvers: null, timeoutMs: 2000 });
      const p = await v.validate("http-01", { type: "ip", value: "127.0.0.1" }, "tok", "tok.thumb");
      expect(p).toMatchObject({ type: "urn:ietf:params:acme:error:incorrectResponse" });
      expect(p!.detail).not.toContain("AWS_SECRET");
    } finally {
      secret.close();
    }
  });

  it("never contacts link-local addresses (cloud metadata)", async () => {
    expect(isLinkLocal("169.254.169.254")).toBe(true);
    expect(isLinkLocal("fe80::1")).toBe(true);
    expect(isLinkLocal("::ffff:169.254.169.254")).toBe(true);
    expect(isLinkLocal("fd00:ec2::254")).toBe(true);
    expect(isLinkLocal("10.0.0.1")).toBe(false);
    expect(isLinkLocal("127.0.0.1")).toBe(false);
    const v = new ChallengeValidator({ http01Port: 80, tlsAlpn01Port: 443, resolvers: null, timeoutMs: 2000 });
    const p = await v.validate("http-01", { type: "ip", value: "169.254.169.254" }, "tok", "tok.thumb");
    expect(p).toMatchObject({ type: "urn:ietf:params:acme:error:connection" });
    expect(p!.detail).toMatch(/link-local/);
  });
});

describe("account keys over HTTP", () => {
  let bed: AcmeTestbed;
  beforeAll(async () => {
    bed = await startAcmeTestbed();
  }, 60_000);
  afterAll(async () => bed?.close());

  it("one key spelled two ways is one account", async () => {
    const client = await AcmeRawClient.connect(bed.directory(), bed.signet.rootPem);
    const first = await client.createAccount();
    expect(first.status).toBe(201);
    const jwk = { ...client.key.jwk, x: respell(client.key.jwk.x!) };
    const again = await client.post(client.dir.newAccount, { termsOfServiceAgreed: true }, { as: "jwk", jwk });
    expect(again.status, again.text).toBe(200);
    expect(again.header("location")).toBe(first.header("location"));
  });

  it("newAccount with a deactivated account's key is unauthorized (RFC 8555 §7.3.6)", async () => {
    const client = await AcmeRawClient.connect(bed.directory(), bed.signet.rootPem);
    expect((await client.createAccount()).status).toBe(201);
    expect((await client.post(client.kid!, { status: "deactivated" })).status).toBe(200);
    const again = await client.post(client.dir.newAccount, { termsOfServiceAgreed: true }, { as: "jwk" });
    expect(again.status).toBe(403);
    expect(again.json<{ type: string }>().type).toBe("urn:ietf:params:acme:error:unauthorized");
  });
});
