// Unit tests of the ACME front end's pure parts, no server: JWS (RFC 7515/7638), replay nonces,
// ARI identifiers and windows (RFC 9773), order identifiers (RFC 8555 §7.1.3, RFC 8738), the
// tls-alpn-01 reverse name (RFC 8738 §6), and the ACME provisioner's options and CSR check.
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { certIdOf, parseCertId, renewalWindow } from "../acme/ari.js";
import { parseIdentifiers } from "../acme/identifiers.js";
import {
  ACCOUNT_ALGORITHMS,
  assertAccountAlgorithm,
  importJwk,
  keyAuthorization,
  parseEab,
  parseJws,
  publicJwk,
  thumbprint,
  verifySignature,
  type AccountAlgorithm,
  type PublicJwk,
} from "../acme/jws.js";
import { NonceService, type UsedNonceStore } from "../acme/nonces.js";
import { AcmeProblem, type ProblemDocument } from "../acme/problems.js";
import { reverseName } from "../acme/validator.js";
import { acmeSettings, ACME_DEFAULTS, csrMatchesOrder } from "../ca/provisioners/acme.js";
import type { SignContext } from "../ca/provisioners/index.js";
import { parseCertificate, parseCsr } from "../ca/x509/index.js";
import { eabJws, jwkThumbprint, publicJwkOf, signJws, type JwsAlg } from "./support/acme-flow.js";
import { makeCsr } from "./support/csr.js";
import { expectCode } from "./support/expect-code.js";

/** The AcmeProblem `fn` throws. */
function problemOf(fn: () => unknown): AcmeProblem {
  try {
    fn();
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(AcmeProblem);
    return err as AcmeProblem;
  }
  throw new Error("expected an AcmeProblem, but the call succeeded");
}

const b64u = (v: unknown) => (Buffer.isBuffer(v) ? v : Buffer.from(typeof v === "string" ? v : JSON.stringify(v))).toString("base64url");

describe("acme/jws", () => {
  const keys: Record<AccountAlgorithm, () => KeyObject> = {
    ES256: () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
    ES384: () => generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey,
    RS256: () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey,
    EdDSA: () => generateKeyPairSync("ed25519").privateKey,
  };

  describe("thumbprint (RFC 7638)", () => {
    it("matches the RFC 7638 §3.1 example", () => {
      const jwk: PublicJwk = {
        kty: "RSA",
        n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        e: "AQAB",
      };
      expect(thumbprint(jwk)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    });

    it("agrees with an independent implementation for EC, RSA and OKP keys, whatever order the members came in", () => {
      for (const alg of ACCOUNT_ALGORITHMS) {
        const jwk = publicJwkOf(keys[alg]());
        const shuffled = Object.fromEntries(Object.entries(jwk).reverse());
        expect(thumbprint(publicJwk(shuffled, alg)), alg).toBe(jwkThumbprint(jwk));
      }
    });

    it("keyAuthorization is token.thumbprint (RFC 8555 §8.1)", () => {
      expect(keyAuthorization("tok", "thumb")).toBe("tok.thumb");
    });
  });

  describe("parseJws", () => {
    const good = { protected: b64u({ alg: "ES256", nonce: "n", url: "u", kid: "k" }), payload: b64u({ a: 1 }), signature: b64u("sig") };

    it("parses a flattened JWS; an empty payload is POST-as-GET (null)", () => {
      const j = parseJws(good);
      expect(j.header).toEqual({ alg: "ES256", nonce: "n", url: "u", kid: "k" });
      expect(j.payload).toEqual({ a: 1 });
      expect(j.signature.toString()).toBe("sig");
      expect(parseJws({ ...good, payload: "" }).payload).toBeNull();
    });

    const cases: [string, unknown][] = [
      ["not an object", "a string"],
      ["an array", [good]],
      ["null", null],
      ["general serialization", { ...good, signatures: [] }],
      ["an unprotected header", { ...good, header: { kid: "k" } }],
      ["a missing signature", { protected: good.protected, payload: good.payload }],
      ["a non-string payload", { ...good, payload: { a: 1 } }],
      ["an unexpected member", { ...good, extra: "x" }],
      ["a protected header that is not base64url", { ...good, protected: "eyJ+YWxnIjoi" }],
      ["a protected header that is not JSON", { ...good, protected: b64u("not json") }],
      ["a protected header that is an array", { ...good, protected: b64u([1]) }],
      ["no alg", { ...good, protected: b64u({ nonce: "n", url: "u" }) }],
      ["a non-string alg", { ...good, protected: b64u({ alg: 1 }) }],
      ["crit", { ...good, protected: b64u({ alg: "ES256", crit: ["b64"] }) }],
      ["b64", { ...good, protected: b64u({ alg: "ES256", b64: false }) }],
      ["a non-string nonce", { ...good, protected: b64u({ alg: "ES256", nonce: 1 }) }],
      ["a non-string url", { ...good, protected: b64u({ alg: "ES256", url: ["u"] }) }],
      ["a non-string kid", { ...good, protected: b64u({ alg: "ES256", kid: 7 }) }],
      ["a jwk that is not an object", { ...good, protected: b64u({ alg: "ES256", jwk: "k" }) }],
      ["a signature that is not base64url", { ...good, signature: "ab+/" }],
      ["a padded signature", { ...good, signature: "YWJj=" }],
      ["a payload that is not JSON", { ...good, payload: b64u("{") }],
      ["a payload with a NUL character", { ...good, payload: b64u({ a: "x\u0000y" }) }],
    ];
    for (const [what, body] of cases) {
      it(`refuses ${what} as malformed`, () => {
        expect(problemOf(() => parseJws(body)).type).toBe("malformed");
      });
    }
  });

  describe("algorithms and keys", () => {
    it("accepts only ES256, ES384, RS256 and EdDSA; anything else is badSignatureAlgorithm listing them", () => {
      for (const alg of ACCOUNT_ALGORITHMS) expect(assertAccountAlgorithm(alg)).toBe(alg);
      for (const alg of ["none", "HS256", "RS384", "PS256", "ES512", "es256", ""]) {
        const p = problemOf(() => assertAccountAlgorithm(alg));
        expect(p.type, alg).toBe("badSignatureAlgorithm");
        expect(p.algorithms).toEqual([...ACCOUNT_ALGORITHMS]);
      }
    });

    it("publicJwk keeps the public members only and refuses private material and mismatched key types", () => {
      const ec = publicJwkOf(keys.ES256());
      expect(publicJwk({ ...ec, use: "sig", kid: "x" }, "ES256")).toEqual({ kty: "EC", crv: "P-256", x: ec.x, y: ec.y });
      expect(problemOf(() => publicJwk({ ...ec, d: "AAAA" }, "ES256")).type).toBe("badPublicKey");
      expect(problemOf(() => publicJwk({ kty: "oct", k: "AAAA" }, "ES256")).type).toBe("badPublicKey");
      expect(problemOf(() => publicJwk(ec, "ES384")).type).toBe("badSignatureAlgorithm");
      expect(problemOf(() => publicJwk(ec, "RS256")).type).toBe("badSignatureAlgorithm");
      expect(problemOf(() => publicJwk({ kty: "OKP", crv: "X25519", x: "AAAA" }, "EdDSA")).type).toBe("badSignatureAlgorithm");
      expect(problemOf(() => publicJwk({ kty: "EC", crv: "P-256", x: ec.x }, "ES256")).type).toBe("badPublicKey");
      expect(problemOf(() => publicJwk({ kty: "EC", crv: "P-256", x: "a+b", y: ec.y }, "ES256")).type).toBe("badPublicKey");
    });

    it("importJwk refuses points off the curve, short RSA keys and even exponents", () => {
      const ec = publicJwk(publicJwkOf(keys.ES256()), "ES256");
      expect(problemOf(() => importJwk({ ...ec, y: ec.x })).type).toBe("badPublicKey");
      const short = publicJwkOf(generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey);
      expect(problemOf(() => importJwk(publicJwk(short, "RS256"))).detail).toMatch(/2048-8192 bits; this one has 1024/);
      const rsa = publicJwk(publicJwkOf(keys.RS256()), "RS256");
      expect(problemOf(() => importJwk({ ...rsa, e: b64u(Buffer.from([1, 0, 0])) })).type).toBe("badPublicKey");
      expect(problemOf(() => importJwk({ ...rsa, e: b64u(Buffer.from([1])) })).type).toBe("badPublicKey");
    });
  });

  describe("verifySignature", () => {
    const header = { nonce: "n", url: "https://ca.test/acme/p/new-order" };
    for (const alg of ACCOUNT_ALGORITHMS) {
      it(`${alg}: a good signature verifies; a tampered signature, payload or header does not`, () => {
        const priv = keys[alg]();
        const key = importJwk(publicJwk(publicJwkOf(priv), alg));
        const jws = signJws({ alg: alg as JwsAlg, privateKey: priv }, header, { identifiers: [] });
        expect(verifySignature(parseJws(jws), alg, key)).toBe(true);
        const sig = Buffer.from(jws.signature, "base64url");
        sig[sig.length >> 1]! ^= 0x01;
        expect(verifySignature(parseJws({ ...jws, signature: sig.toString("base64url") }), alg, key)).toBe(false);
        expect(verifySignature(parseJws({ ...jws, payload: b64u({ identifiers: [1] }) }), alg, key)).toBe(false);
        expect(verifySignature(parseJws({ ...jws, protected: b64u({ alg, ...header, url: "https://ca.test/x" }) }), alg, key)).toBe(false);
        // An empty signature never verifies (whether parseJws lets it through or not).
        expect(verifySignature({ ...parseJws(jws), signature: Buffer.alloc(0) }, alg, key)).toBe(false);
        // POST-as-GET signs the empty payload.
        expect(verifySignature(parseJws(signJws({ alg: alg as JwsAlg, privateKey: priv }, header, null)), alg, key)).toBe(true);
      });
    }

    it("EdDSA with an Ed448 key verifies", () => {
      const priv = generateKeyPairSync("ed448").privateKey;
      const key = importJwk(publicJwk(publicJwkOf(priv), "EdDSA"));
      expect(verifySignature(parseJws(signJws({ alg: "EdDSA", privateKey: priv }, header, {})), "EdDSA", key)).toBe(true);
    });

    it("ES256 and ES384 signatures in DER (not r||s, RFC 7518 §3.4) are refused", () => {
      for (const [alg, hash] of [["ES256", "sha256"], ["ES384", "sha384"]] as const) {
        const priv = keys[alg]();
        const key = importJwk(publicJwk(publicJwkOf(priv), alg));
        const jws = signJws({ alg, privateKey: priv }, header, {});
        const der = sign(hash, Buffer.from(`${jws.protected}.${jws.payload}`), { key: priv, dsaEncoding: "der" });
        expect(verifySignature(parseJws({ ...jws, signature: der.toString("base64url") }), alg, key), alg).toBe(false);
      }
    });

    it("a signature made with another algorithm or key does not verify", () => {
      const p256 = keys.ES256();
      const jws = parseJws(signJws({ alg: "ES256", privateKey: p256 }, header, {}));
      expect(verifySignature(jws, "ES256", importJwk(publicJwk(publicJwkOf(keys.ES256()), "ES256")))).toBe(false);
      expect(verifySignature(jws, "ES384", importJwk(publicJwk(publicJwkOf(keys.ES384()), "ES384")))).toBe(false);
      expect(verifySignature(jws, "EdDSA", importJwk(publicJwk(publicJwkOf(keys.EdDSA()), "EdDSA")))).toBe(false);
    });
  });

  describe("parseEab (RFC 8555 §7.3.4)", () => {
    const hmac = randomBytes(32);
    const jwk = publicJwkOf(keys.ES256());
    const url = "https://ca.test/acme/p/new-account";

    it("parses the binding and verifies its MAC under HS256, HS384 and HS512", () => {
      for (const alg of ["HS256", "HS384", "HS512"] as const) {
        const eab = parseEab(eabJws("kid-1", hmac.toString("base64url"), jwk, url, alg));
        expect(eab).toMatchObject({ kid: "kid-1", alg, url, jwk });
        expect(eab.verify(hmac), alg).toBe(true);
        expect(eab.verify(randomBytes(32)), alg).toBe(false);
      }
    });

    it("refuses a signature algorithm, a nonce, a missing kid and a payload that is not a JWK", () => {
      const mac = (prot: unknown, payload: unknown) => ({ protected: b64u(prot), payload: b64u(payload), signature: b64u("m") });
      expect(problemOf(() => parseEab(mac({ alg: "ES256", kid: "k", url }, jwk))).type).toBe("badSignatureAlgorithm");
      expect(problemOf(() => parseEab(mac({ alg: "none", kid: "k", url }, jwk))).type).toBe("badSignatureAlgorithm");
      expect(problemOf(() => parseEab(mac({ alg: "HS256", kid: "k", url, nonce: "n" }, jwk))).type).toBe("malformed");
      expect(problemOf(() => parseEab(mac({ alg: "HS256", url }, jwk))).type).toBe("malformed");
      expect(problemOf(() => parseEab(mac({ alg: "HS256", kid: "", url }, jwk))).type).toBe("malformed");
      expect(problemOf(() => parseEab(mac({ alg: "HS256", kid: "k", url }, "a string"))).type).toBe("malformed");
      expect(problemOf(() => parseEab({ protected: b64u({ alg: "HS256", kid: "k", url }), payload: "", signature: b64u("m") })).type).toBe("malformed");
    });

    it("a truncated MAC does not verify", () => {
      const jws = eabJws("k", hmac.toString("base64url"), jwk, url);
      const short = Buffer.from(jws.signature, "base64url").subarray(0, 16).toString("base64url");
      expect(parseEab({ ...jws, signature: short }).verify(hmac)).toBe(false);
    });
  });
});

describe("acme/nonces", () => {
  class MemoryNonces implements UsedNonceStore {
    readonly used = new Map<string, Date>();
    async consumeNonce(nonce: string, expiresAt: Date): Promise<boolean> {
      if (this.used.has(nonce)) return false;
      this.used.set(nonce, expiresAt);
      return true;
    }
  }
  const setup = (lifetimeSeconds = 60) => {
    const clock = { now: 1_800_000_000_000 };
    const store = new MemoryNonces();
    const key = randomBytes(32);
    const svc = new NonceService(key, store, { lifetimeSeconds, clock: () => clock.now });
    return { clock, store, key, svc };
  };

  it("issues distinct 38-character base64url nonces, across refills of the random pool", () => {
    const { svc } = setup();
    const all = Array.from({ length: 1000 }, () => svc.issue());
    expect(new Set(all).size).toBe(1000);
    for (const n of all) expect(n).toMatch(/^[A-Za-z0-9_-]{38}$/);
  });

  it("check answers the expiry time without storing; spend accepts a nonce once (replay is refused)", async () => {
    const { svc, store, clock } = setup(60);
    const n = svc.issue();
    expect(svc.check(n)).toEqual(new Date(clock.now + 60_000));
    expect(store.used.size).toBe(0);
    const expires = svc.check(n) as Date;
    expect(await svc.spend(n, expires)).toBe(true);
    expect(store.used.get(n)).toEqual(new Date(clock.now + 60_000));
    expect(await svc.spend(n, expires)).toBe(false);
  });

  it("a nonce is good for its lifetime and expired one millisecond later", async () => {
    const { svc, clock } = setup(60);
    const n = svc.issue();
    const m = svc.issue();
    clock.now += 60_000;
    expect(svc.check(n)).toBeInstanceOf(Date);
    clock.now += 1;
    expect(svc.check(n)).toBe("the nonce has expired");
    expect(svc.check(m)).toBe("the nonce has expired");
  });

  it("a nonce from the future (beyond 5 s of clock skew) is refused; within it, accepted", () => {
    const { svc, clock } = setup();
    clock.now += 5_000;
    const near = svc.issue();
    clock.now += 1;
    const far = svc.issue();
    clock.now -= 5_001;
    expect(svc.check(near)).toBeInstanceOf(Date);
    expect(svc.check(far)).toBe("the nonce was not issued by this server");
  });

  it("refuses forged MACs, another key's nonces, bad forms and a missing nonce, without touching the store", async () => {
    const { svc, store, clock } = setup();
    const n = svc.issue();
    const raw = Buffer.from(n, "base64url");
    raw[raw.length - 1]! ^= 0x01;
    const forgedMac = raw.toString("base64url");
    const body = Buffer.from(n, "base64url");
    body[8]! ^= 0x80; // the random part, MAC unchanged
    const other = new NonceService(randomBytes(32), store, { lifetimeSeconds: 60, clock: () => clock.now }).issue();
    for (const bad of [forgedMac, body.toString("base64url"), other, n.slice(1), `${n}A`, n.replace(/.$/, "+"), ""]) {
      expect(svc.check(bad), bad).toBe("the nonce was not issued by this server");
    }
    expect(svc.check(undefined)).toBe("the JWS protected header has no nonce");
    expect(store.used.size).toBe(0);
  });

  it("needs a key of at least 32 bytes", () => {
    expect(() => new NonceService(randomBytes(31), new MemoryNonces(), { lifetimeSeconds: 60 })).toThrow(/32 bytes/);
  });
});

describe("acme/ari (RFC 9773)", () => {
  // RFC 9773 Appendix A: the example certificate, whose §4.1 identifier is aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE.
  const RFC9773_EXAMPLE = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`;
  const RFC_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

  it("certIdOf gives the RFC 9773 §4.1 identifier of the Appendix A certificate (serial 0x87654321, top bit set)", () => {
    const cert = parseCertificate(RFC9773_EXAMPLE);
    expect(cert.serialHex).toBe("87654321");
    expect(certIdOf(cert.authorityKeyId!.toString("hex"), cert.serialHex)).toBe(RFC_ID);
    expect(parseCertId(RFC_ID)).toEqual({ authorityKeyIdHex: "69885b6b87464041e1b37b847ba0ae2cde01c8d4", serialHex: "87654321" });
  });

  it("round-trips random identifiers, serials with and without the top bit, up to 20 octets", () => {
    for (let i = 0; i < 200; i++) {
      const aki = randomBytes(20).toString("hex");
      const serial = randomBytes(1 + (i % 20));
      serial[0] = i % 2 ? serial[0]! | 0x80 : (serial[0]! & 0x7f) || 1;
      const id = certIdOf(aki, serial.toString("hex"));
      expect(parseCertId(id)).toEqual({ authorityKeyIdHex: aki, serialHex: serial.toString("hex") });
      expect(Buffer.from(id.split(".")[1]!, "base64url")[0]! & 0x80, id).toBe(0);
    }
  });

  const refused: [string, string][] = [
    ["no dot", "aYhba4dGQEHhs3uEe6CuLN4ByNQ"],
    ["three parts", `${RFC_ID}.AA`],
    ["padding", "aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE"],
    ["standard base64", "aYhba4dGQEHhs3uEe6CuLN4B+NQ.AIdlQyE"],
    ["an empty key identifier", ".AIdlQyE"],
    ["an empty serial", "aYhba4dGQEHhs3uEe6CuLN4ByNQ."],
    ["a negative serial", `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${b64u(Buffer.from([0x87, 0x65]))}`],
    ["a serial with a needless leading zero", `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${b64u(Buffer.from([0x00, 0x12]))}`],
    ["a serial of one zero octet", `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${b64u(Buffer.from([0x00]))}`],
    ["a serial of 22 octets", `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${b64u(Buffer.concat([Buffer.from([0x01]), randomBytes(21)]))}`],
    ["a key identifier of 65 octets", `${b64u(randomBytes(65))}.AIdlQyE`],
  ];
  for (const [what, id] of refused) {
    it(`parseCertId refuses ${what} as malformed`, () => {
      expect(problemOf(() => parseCertId(id)).type).toBe("malformed");
    });
  }

  describe("renewalWindow", () => {
    const nb = new Date("2026-01-01T00:00:00Z");
    const day = 86_400_000;

    it("is the last third of the life, ending at 11/12, with Retry-After a twelfth of the life (60 s to 6 h)", () => {
      const w = renewalWindow({ notBefore: nb, notAfter: new Date(nb.getTime() + day), revoked: false, issuerRetired: false }, nb);
      expect(w.start).toEqual(new Date(nb.getTime() + (day * 2) / 3));
      expect(w.end).toEqual(new Date(nb.getTime() + (day * 11) / 12));
      expect(w.retryAfterSeconds).toBe(7200);
      expect(w.explanation).toBeNull();
      const short = renewalWindow({ notBefore: nb, notAfter: new Date(nb.getTime() + 600_000), revoked: false, issuerRetired: false }, nb);
      expect(short.retryAfterSeconds).toBe(60);
      const long = renewalWindow({ notBefore: nb, notAfter: new Date(nb.getTime() + 90 * day), revoked: false, issuerRetired: false }, nb);
      expect(long.retryAfterSeconds).toBe(6 * 3600);
    });

    it("is in the past (renew now) for a revoked certificate or a retired issuer", () => {
      const now = new Date(nb.getTime() + 3600_000);
      for (const flags of [{ revoked: true, issuerRetired: false }, { revoked: false, issuerRetired: true }]) {
        const w = renewalWindow({ notBefore: nb, notAfter: new Date(nb.getTime() + day), ...flags }, now);
        expect(w.start.getTime()).toBeLessThan(w.end.getTime());
        expect(w.end.getTime()).toBeLessThan(now.getTime());
        expect(w.explanation).toMatch(/renew now/);
      }
    });
  });
});

describe("acme/identifiers", () => {
  const opts = { wildcards: true, ip: true };

  it("parses DNS and IP identifiers, normalising IPv6 to RFC 5952 and dropping duplicates", () => {
    expect(
      parseIdentifiers(
        [
          { type: "dns", value: "web.example.test" },
          { type: "ip", value: "2001:DB8:0:0:0:0:0:1" },
          { type: "ip", value: "2001:db8::1" },
          { type: "ip", value: "10.0.0.1" },
          { type: "dns", value: "web.example.test" },
        ],
        opts,
      ),
    ).toEqual([
      { type: "dns", value: "web.example.test", authzValue: "web.example.test", wildcard: false },
      { type: "ip", value: "2001:db8::1", authzValue: "2001:db8::1", wildcard: false },
      { type: "ip", value: "10.0.0.1", authzValue: "10.0.0.1", wildcard: false },
    ]);
  });

  it("a wildcard is authorized on its base domain, when the provisioner allows wildcards", () => {
    expect(parseIdentifiers([{ type: "dns", value: "*.example.test" }], opts)).toEqual([{ type: "dns", value: "*.example.test", authzValue: "example.test", wildcard: true }]);
    // *.example.test and example.test are two identifiers (two authorizations of example.test).
    expect(parseIdentifiers([{ type: "dns", value: "*.example.test" }, { type: "dns", value: "example.test" }], opts)).toHaveLength(2);
    expect(problemOf(() => parseIdentifiers([{ type: "dns", value: "*.example.test" }], { wildcards: false, ip: true })).type).toBe("rejectedIdentifier");
  });

  for (const value of ["*.test", "a.*.example.test", "*a.example.test", "**.example.test", "*", "*.", "example.test.", "-a.example.test", "a-.example.test", `${"a".repeat(64)}.test`, `${"a.".repeat(127)}test`, "a..test", "a_b.test", "exämple.test"]) {
    it(`refuses the DNS name ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} as rejectedIdentifier`, () => {
      const p = problemOf(() => parseIdentifiers([{ type: "dns", value }], opts));
      expect(p.type).toBe("rejectedIdentifier");
      // The identifier is echoed back, cut to 256 characters.
      expect(p.subproblems).toEqual([expect.objectContaining({ identifier: { type: "dns", value: value.slice(0, 256) } })]);
    });
  }

  it("accepts a 63-character label and a 253-character name", () => {
    const label = "a".repeat(63);
    expect(parseIdentifiers([{ type: "dns", value: `${label}.test` }], opts)).toHaveLength(1);
    const name = `${"a".repeat(61)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`;
    expect(name.length).toBe(253);
    expect(parseIdentifiers([{ type: "dns", value: name }], opts)).toHaveLength(1);
  });

  it("refuses upper-case DNS names, IP addresses as dns, and malformed IPs as malformed", () => {
    expect(problemOf(() => parseIdentifiers([{ type: "dns", value: "Web.example.test" }], opts)).type).toBe("malformed");
    expect(problemOf(() => parseIdentifiers([{ type: "dns", value: "10.0.0.1" }], opts)).type).toBe("malformed");
    for (const value of ["10.0.0.256", "127.000.000.001", "1.2.3", "web.example.test", "::g"]) {
      expect(problemOf(() => parseIdentifiers([{ type: "ip", value }], opts)).type, value).toBe("malformed");
    }
  });

  it("an IPv6 address with a zone index is refused per identifier, like any other bad identifier", () => {
    // node's isIP accepts "fe80::1%eth0"; the problem must still be an ACME problem naming the identifier.
    const p = problemOf(() => parseIdentifiers([{ type: "ip", value: "fe80::1%eth0" }, { type: "dns", value: "UPPER.test" }], opts));
    expect(p.subproblems?.map((s) => s.identifier?.value)).toEqual(["fe80::1%eth0", "UPPER.test"]);
  });

  it("IP identifiers on a provisioner without them, and unknown types, are unsupportedIdentifier", () => {
    expect(problemOf(() => parseIdentifiers([{ type: "ip", value: "10.0.0.1" }], { wildcards: false, ip: false })).type).toBe("unsupportedIdentifier");
    expect(problemOf(() => parseIdentifiers([{ type: "email", value: "a@b.test" }], opts)).type).toBe("unsupportedIdentifier");
  });

  it("reports every bad identifier as a subproblem naming it; all unsupported makes the top type unsupportedIdentifier", () => {
    const mixed = problemOf(() =>
      parseIdentifiers(
        [
          { type: "dns", value: "ok.example.test" },
          { type: "dns", value: "bad..test" },
          { type: "email", value: "a@b.test" },
        ],
        opts,
      ),
    );
    expect(mixed.type).toBe("rejectedIdentifier");
    expect(mixed.subproblems).toHaveLength(2);
    expect(mixed.subproblems!.map((s: ProblemDocument) => [s.type, s.identifier])).toEqual([
      ["urn:ietf:params:acme:error:rejectedIdentifier", { type: "dns", value: "bad..test" }],
      ["urn:ietf:params:acme:error:unsupportedIdentifier", { type: "email", value: "a@b.test" }],
    ]);
    const unsupported = problemOf(() =>
      parseIdentifiers(
        [
          { type: "email", value: "a@b.test" },
          { type: "uri", value: "spiffe://x" },
        ],
        opts,
      ),
    );
    expect(unsupported.type).toBe("unsupportedIdentifier");
    expect(unsupported.subproblems).toHaveLength(2);
    const one = problemOf(() => parseIdentifiers([{ type: "dns", value: "bad..test" }], opts));
    expect(one.type).toBe("rejectedIdentifier");
    expect(one.subproblems).toHaveLength(1);
  });

  it("structural errors are malformed; more than 100 identifiers is rejectedIdentifier", () => {
    for (const v of [undefined, [], "web.test", [{ type: "dns" }], [null], [{ type: "dns", value: 1 }]]) {
      expect(problemOf(() => parseIdentifiers(v, opts)).type, JSON.stringify(v)).toBe("malformed");
    }
    const many = Array.from({ length: 101 }, (_, i) => ({ type: "dns", value: `n${i}.test` }));
    expect(problemOf(() => parseIdentifiers(many, opts)).type).toBe("rejectedIdentifier");
    expect(parseIdentifiers(many.slice(0, 100), opts)).toHaveLength(100);
  });
});

describe("acme/validator reverseName (RFC 8738 §6)", () => {
  it("gives the in-addr.arpa name of an IPv4 address (RFC 1034 §3.5 example)", () => {
    expect(reverseName("10.2.0.52")).toBe("52.0.2.10.in-addr.arpa");
    expect(reverseName("127.0.0.1")).toBe("1.0.0.127.in-addr.arpa");
  });

  it("gives the ip6.arpa name of an IPv6 address (RFC 3596 §2.5 example), compressed forms included", () => {
    expect(reverseName("4321:0:1:2:3:4:567:89ab")).toBe("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa");
    expect(reverseName("::1")).toBe(`1${".0".repeat(31)}.ip6.arpa`);
    expect(reverseName("::")).toBe(`0${".0".repeat(31)}.ip6.arpa`);
    expect(reverseName("2001:db8::")).toBe(`${"0.".repeat(24)}8.b.d.0.1.0.0.2.ip6.arpa`);
    expect(reverseName("2001:db8::1")).toBe(`1${".0".repeat(23)}.8.b.d.0.1.0.0.2.ip6.arpa`);
  });

  it("gives the ip6.arpa name of an IPv4-mapped IPv6 address in the mixed notation identifiers are normalised to", () => {
    // parseIdentifiers normalises ::ffff:c000:201 to ::ffff:192.0.2.1 (RFC 5952 §5).
    expect(parseIdentifiers([{ type: "ip", value: "::ffff:c000:201" }], { wildcards: false, ip: true })[0]!.value).toBe("::ffff:192.0.2.1");
    expect(reverseName("::ffff:192.0.2.1")).toBe(`1.0.2.0.0.0.0.c.f.f.f.f${".0".repeat(20)}.ip6.arpa`);
  });
});

describe("ca/provisioners/acme", () => {
  describe("acmeSettings", () => {
    it("applies the defaults and removes duplicate challenge types", () => {
      expect(acmeSettings({})).toEqual(ACME_DEFAULTS);
      expect(acmeSettings({ challenges: ["dns-01", "dns-01", "http-01"], description: "x", allowedProfiles: ["server"] }).challenges).toEqual(["dns-01", "http-01"]);
      expect(acmeSettings({ rateLimits: { orders: 2 } }).rateLimits).toEqual({ ...ACME_DEFAULTS.rateLimits, orders: 2 });
    });

    const refused: [string, Record<string, unknown>, string][] = [
      ["an unknown option", { wildcard: true }, "options.wildcard"],
      ["an empty challenge list", { challenges: [] }, "options.challenges"],
      ["an unknown challenge type", { challenges: ["http-01", "tls-sni-01"] }, "options.challenges"],
      ["challenges that are not a list", { challenges: "http-01" }, "options.challenges"],
      ["wildcards without dns-01", { wildcards: true, challenges: ["http-01"] }, "options.wildcards"],
      ["a non-boolean wildcards", { wildcards: "yes" }, "options.wildcards"],
      ["a non-boolean requireEab", { requireEab: 1 }, "options.requireEab"],
      ["a non-boolean eabSingleUse", { eabSingleUse: null }, "options.eabSingleUse"],
      ["a non-boolean ipIdentifiers", { ipIdentifiers: "false" }, "options.ipIdentifiers"],
      ["a website that is not an http(s) URL", { website: "ftp://x" }, "options.website"],
      ["a termsOfService that is not a URL", { termsOfService: "see our site" }, "options.termsOfService"],
      ["an orderLifetimeSeconds below a minute", { orderLifetimeSeconds: 59 }, "options.orderLifetimeSeconds"],
      ["an orderLifetimeSeconds beyond 30 days", { orderLifetimeSeconds: 30 * 86400 + 1 }, "options.orderLifetimeSeconds"],
      ["a fractional orderLifetimeSeconds", { orderLifetimeSeconds: 3600.5 }, "options.orderLifetimeSeconds"],
      ["rateLimits that are not an object", { rateLimits: [1] }, "options.rateLimits"],
      ["an unknown rate limit", { rateLimits: { accounts: 5 } }, "options.rateLimits.accounts"],
      ["a zero order limit", { rateLimits: { orders: 0 } }, "options.rateLimits.orders"],
      ["a string failedValidations", { rateLimits: { failedValidations: "3" } }, "options.rateLimits.failedValidations"],
      ["a window beyond 7 days", { rateLimits: { windowSeconds: 7 * 86400 + 1 } }, "options.rateLimits.windowSeconds"],
    ];
    for (const [what, options, path] of refused) {
      it(`refuses ${what} with bad_provisioner naming ${path}`, () => {
        try {
          acmeSettings(options);
        } catch (err) {
          expectCode(() => {
            throw err;
          }, "bad_provisioner");
          expect((err as { detail?: { path?: string } }).detail?.path).toBe(path);
          return;
        }
        throw new Error("expected bad_provisioner");
      });
    }
  });

  describe("csrMatchesOrder", () => {
    const check = (ids: { dns?: string[]; ip?: string[] }, csr: Parameters<typeof makeCsr>[0]) => {
      const option = csrMatchesOrder({ dns: ids.dns ?? [], ip: ids.ip ?? [] });
      if (option.kind !== "validator") throw new Error("csrMatchesOrder must be a validator");
      const parsed = parseCsr(makeCsr(csr).der);
      return () => option.validate({ csr: parsed } as SignContext);
    };

    it("accepts a CSR naming exactly the order's identifiers, in any order, with or without a matching CN", () => {
      expect(check({ dns: ["a.test", "b.test"], ip: ["10.0.0.1"] }, { sans: { dns: ["b.test", "a.test"], ip: ["10.0.0.1"] } })).not.toThrow();
      expect(check({ dns: ["a.test"] }, { cn: "a.test", sans: { dns: ["a.test"] } })).not.toThrow();
      expect(check({ ip: ["10.0.0.1"] }, { cn: "10.0.0.1", sans: { ip: ["10.0.0.1"] } })).not.toThrow();
      expect(check({ dns: ["*.wild.test"] }, { sans: { dns: ["*.wild.test"] } })).not.toThrow();
    });

    it("compares DNS names case-insensitively", () => {
      expect(check({ dns: ["a.test"] }, { cn: "A.Test", sans: { dns: ["A.TEST"] } })).not.toThrow();
    });

    it("refuses extra names, missing identifiers, URI and email SANs, and a CN outside the order, as bad_csr", () => {
      expectCode(check({ dns: ["a.test"] }, { sans: { dns: ["a.test", "b.test"] } }), "bad_csr", /names not in the order: b\.test/);
      expectCode(check({ dns: ["a.test", "b.test"] }, { sans: { dns: ["a.test"] } }), "bad_csr", /missing from the CSR: b\.test/);
      expectCode(check({ ip: ["10.0.0.1"] }, { sans: { ip: ["10.0.0.2"] } }), "bad_csr", /10\.0\.0\.2.*10\.0\.0\.1/);
      expectCode(check({ dns: ["a.test"] }, { sans: { dns: ["a.test"], uri: ["spiffe://signet.test/w"] } }), "bad_csr", /spiffe/);
      expectCode(check({ dns: ["a.test"] }, { sans: { dns: ["a.test"], email: ["x@a.test"] } }), "bad_csr", /x@a\.test/);
      expectCode(check({ dns: ["a.test"] }, { cn: "other.test", sans: { dns: ["a.test"] } }), "bad_csr", /common name "other\.test"/);
      expectCode(check({ dns: ["a.test"] }, {}), "bad_csr", /missing from the CSR: a\.test/);
    });
  });
});
