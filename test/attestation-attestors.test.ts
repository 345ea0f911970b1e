// Attestors with real crypto: the strict JWT verifier, posture assertions, Kubernetes projected
// service-account tokens, and the JWKS loader (file, URL, OIDC discovery on a local HTTP server).
import { createHash, randomUUID, sign } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttestationError, type AttestationErrorCode } from "../ca/attestation/errors.js";
import { parseJwks, verifyJwt, type JwkSet, type JwtAlgorithm, type PublicJwk } from "../ca/attestation/jws.js";
import { KubernetesAttestor } from "../ca/attestation/kubernetes-attestor.js";
import { PostureAttestor } from "../ca/attestation/posture-attestor.js";
import { loadJwks } from "../src/attestation/jwks.js";
import { b64url, CLUSTER_ISSUER, hmacWithPublicKey, projectedTokenPayload, TokenIssuer, unsignedToken } from "./support/token-issuer.js";

const NOW = new Date("2026-11-23T12:00:00Z");
const T = Math.floor(NOW.getTime() / 1000);
const CI = "https://ci.example.internal";
const DIGEST = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

function attestationError(fn: () => unknown): AttestationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AttestationError) return err;
    throw new Error(`expected an AttestationError, got ${String(err)}`, { cause: err });
  }
  throw new Error("expected an AttestationError, but the call succeeded");
}

function expectAttestation(fn: () => unknown, code: AttestationErrorCode, message?: RegExp): AttestationError {
  const err = attestationError(fn);
  expect(err.code, err.message).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}

async function expectAttestationAsync(p: Promise<unknown>, code: AttestationErrorCode, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AttestationError);
  expect((err as AttestationError).code, (err as Error).message).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

/** The PRNG of the garbage loop: seeded, so a failure is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let rsa: TokenIssuer;
let ec: TokenIssuer;
let rsa2: TokenIssuer;
let weak: TokenIssuer;
let attacker: TokenIssuer;

beforeAll(() => {
  rsa = new TokenIssuer("RS256");
  ec = new TokenIssuer("ES256");
  rsa2 = new TokenIssuer("RS256");
  weak = new TokenIssuer("RS256", { bits: 1024 });
  attacker = new TokenIssuer("RS256");
});

const claims = (over: Record<string, unknown> = {}) => ({ iss: CI, sub: "build-4711", iat: T - 10, exp: T + 300, jti: randomUUID(), ...over });
const allowAll: JwtAlgorithm[] = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];

describe("verifyJwt", () => {
  it("verifies RS256, PS256, ES256, ES384 and EdDSA tokens with their JWKS", () => {
    for (const alg of allowAll) {
      const issuer = alg === "RS256" ? rsa : new TokenIssuer(alg);
      const { header, payload } = verifyJwt(issuer.sign(claims({ sub: alg })), issuer.jwks(), { algorithms: [alg], now: NOW });
      expect(header.alg).toBe(alg);
      expect(payload.sub).toBe(alg);
    }
  });

  it("refuses alg none, in any spelling", () => {
    for (const alg of ["none", "None", "NONE"]) {
      const token = `${b64url({ alg })}.${b64url(claims())}.`;
      expectAttestation(() => verifyJwt(token, rsa.jwks(), { algorithms: allowAll, now: NOW }), "unsupported_alg", /unsigned/);
    }
    expectAttestation(() => verifyJwt(unsignedToken(claims()), rsa.jwks(), { algorithms: allowAll, now: NOW }), "unsupported_alg");
  });

  it("refuses HS256 signed with the issuer's public key as the secret (key confusion)", () => {
    const token = hmacWithPublicKey(rsa, claims());
    expectAttestation(() => verifyJwt(token, rsa.jwks(), { algorithms: allowAll, now: NOW }), "unsupported_alg", /MAC/);
    for (const alg of ["HS384", "HS512", "hs256"]) {
      const t = `${b64url({ alg, kid: rsa.kid })}.${b64url(claims())}.${b64url("mac")}`;
      expectAttestation(() => verifyJwt(t, rsa.jwks(), { algorithms: allowAll, now: NOW }), "unsupported_alg");
    }
  });

  it("refuses an algorithm outside the issuer's allow-list, and ones Signet does not verify", () => {
    expectAttestation(() => verifyJwt(ec.sign(claims()), ec.jwks(), { algorithms: ["RS256"], now: NOW }), "unsupported_alg", /ES256 is not accepted from this issuer/);
    const rs512 = `${b64url({ alg: "RS512", kid: rsa.kid })}.${b64url(claims())}.${b64url("sig")}`;
    expectAttestation(() => verifyJwt(rs512, rsa.jwks(), { algorithms: allowAll, now: NOW }), "unsupported_alg");
  });

  it("refuses an RSA key of 1024 bits, in the verifier and in parseJwks", () => {
    expectAttestation(() => verifyJwt(weak.sign(claims()), weak.jwks(), { algorithms: ["RS256"], now: NOW }), "weak_key", /1024 bits; at least 2048/);
    expectAttestation(() => parseJwks(weak.jwks()), "bad_jwks", /1024 bits/);
  });

  it("refuses an unknown kid, and tells the key set so it can refresh", () => {
    let told = 0;
    const keys: JwkSet = { keys: rsa.jwks().keys, onUnknownKey: () => told++ };
    const err = expectAttestation(() => verifyJwt(rsa2.sign(claims()), keys, { algorithms: ["RS256"], now: NOW }), "unknown_key", /kid names no key/);
    expect(told).toBe(1);
    expect(err.message).not.toContain(rsa2.kid);
    // A hook that throws changes nothing.
    const throwing: JwkSet = { keys: rsa.jwks().keys, onUnknownKey: () => { throw new Error("refresh failed"); } };
    expectAttestation(() => verifyJwt(rsa2.sign(claims()), throwing, { algorithms: ["RS256"], now: NOW }), "unknown_key");
  });

  it("without a kid, tries the keys of the matching type only", () => {
    const keys = { keys: [ec.jwk(), rsa2.jwk(), rsa.jwk()] };
    const { payload } = verifyJwt(rsa.sign(claims({ sub: "no-kid" }), { kid: undefined }), keys, { algorithms: ["RS256", "ES256"], now: NOW });
    expect(payload.sub).toBe("no-kid");
    expectAttestation(() => verifyJwt(attacker.sign(claims(), { kid: undefined }), keys, { algorithms: ["RS256"], now: NOW }), "bad_signature", /none of the 2 keys/);
    expectAttestation(() => verifyJwt(new TokenIssuer("ES384").sign(claims(), { kid: undefined }), keys, { algorithms: allowAll, now: NOW }), "unknown_key");
  });

  it("refuses a kid whose key is of another type or for another algorithm", () => {
    const keys = { keys: [{ ...ec.jwk(), kid: rsa.kid }] };
    expectAttestation(() => verifyJwt(rsa.sign(claims()), keys, { algorithms: ["RS256"], now: NOW }), "unknown_key", /does not verify RS256/);
    const ps = new TokenIssuer("PS256");
    expectAttestation(() => verifyJwt(ps.sign(claims()), { keys: [{ ...ps.jwk(), alg: "RS256" }] }, { algorithms: ["PS256"], now: NOW }), "unknown_key");
  });

  it("checks exp (required), nbf and the clock skew", () => {
    const v = (payload: object) => () => verifyJwt(rsa.sign(payload), rsa.jwks(), { algorithms: ["RS256"], now: NOW });
    expectAttestation(v(claims({ exp: T - 31 })), "expired", /expired 31 s ago/);
    expect(v(claims({ exp: T - 29 }))().payload.exp).toBe(T - 29);
    expectAttestation(v(claims({ exp: undefined })), "missing_claim", /no expiry/);
    expectAttestation(v(claims({ exp: "soon" })), "malformed", /exp is not a NumericDate/);
    expectAttestation(v(claims({ nbf: T + 60 })), "not_yet_valid", /nbf/);
    expect(v(claims({ nbf: T + 20 }))().payload.nbf).toBe(T + 20);
    expectAttestation(v(claims({ iat: null })), "malformed", /iat/);
    expectAttestation(() => verifyJwt(rsa.sign(claims({ exp: T - 5 })), rsa.jwks(), { algorithms: ["RS256"], now: NOW, clockSkewSeconds: 0 }), "expired");
  });

  it("refuses a tampered payload, header or signature", () => {
    const token = rsa.sign(claims({ sub: "build-1" }));
    const [h, , s] = token.split(".");
    const forged = `${h}.${b64url(claims({ sub: "admin" }))}.${s}`;
    expectAttestation(() => verifyJwt(forged, rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "bad_signature");
    const header2 = `${b64url({ alg: "RS256", kid: rsa.kid, typ: "JWT" })}.${token.split(".")[1]}.${s}`;
    expectAttestation(() => verifyJwt(header2, rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "bad_signature");
    const sig = Buffer.from(s!, "base64url");
    sig[10] = sig[10]! ^ 1;
    expectAttestation(() => verifyJwt(`${h}.${token.split(".")[1]}.${sig.toString("base64url")}`, rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "bad_signature");
    expectAttestation(() => verifyJwt(`${h}.${token.split(".")[1]}.${sig.subarray(1).toString("base64url")}`, rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "bad_signature");
  });

  it("takes ES256 signatures as raw r||s only, not DER", () => {
    const input = `${b64url({ alg: "ES256", kid: ec.kid })}.${b64url(claims())}`;
    const der = sign("sha256", Buffer.from(input), ec.privateKey);
    expectAttestation(() => verifyJwt(`${input}.${der.toString("base64url")}`, ec.jwks(), { algorithms: ["ES256"], now: NOW }), "bad_signature");
    const raw = ec.signature(input);
    expect(verifyJwt(`${input}.${raw.toString("base64url")}`, ec.jwks(), { algorithms: ["ES256"], now: NOW }).header.alg).toBe("ES256");
  });

  it("refuses jku, x5u, jwk, x5c, crit and b64 headers, even on a validly signed token", () => {
    const attackerJwk = attacker.jwk();
    const headers: Record<string, unknown>[] = [
      { jku: "https://attacker.example/jwks.json" },
      { x5u: "https://attacker.example/cert.pem" },
      { jwk: attackerJwk },
      { x5c: ["MIIB"] },
      { crit: ["exp"] },
      { b64: false },
    ];
    for (const extra of headers) {
      expectAttestation(() => verifyJwt(rsa.sign(claims(), extra), rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "unsupported_header");
    }
    // The attacker's own key, embedded: never used.
    const embedded = attacker.sign(claims(), { jwk: attackerJwk, kid: undefined });
    expectAttestation(() => verifyJwt(embedded, rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "unsupported_header", /never used/);
  });

  it("refuses an oversized token before decoding it", () => {
    const big = rsa.sign(claims({ pad: "x".repeat(20_000) }));
    expectAttestation(() => verifyJwt(big, rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "too_large", /at most 16384/);
    const small = rsa.sign(claims());
    expectAttestation(() => verifyJwt(small, rsa.jwks(), { algorithms: ["RS256"], now: NOW, maxTokenBytes: 100 }), "too_large");
  });

  it("refuses malformed structure and non-canonical base64url", () => {
    const token = rsa.sign(claims());
    const [h, p, s] = token.split(".") as [string, string, string];
    const v = (t: unknown) => () => verifyJwt(t as string, rsa.jwks(), { algorithms: ["RS256"], now: NOW });
    expectAttestation(v(""), "malformed", /empty/);
    expectAttestation(v(42), "malformed", /not a string/);
    expectAttestation(v(`${h}.${p}`), "malformed", /three/);
    expectAttestation(v(`${h}.${p}.${s}.x.y`), "malformed", /JWE/);
    expectAttestation(v(`${h}=.${p}.${s}`), "malformed", /base64url/);
    expectAttestation(v(`${b64url("[1,2]")}.${p}.${s}`), "malformed", /header is not a JSON object/);
    expectAttestation(v(`${b64url("{")}.${p}.${s}`), "malformed", /not UTF-8 JSON/);
    expectAttestation(v(`${b64url(Buffer.from([0x7b, 0xff, 0x7d]))}.${p}.${s}`), "malformed", /UTF-8/);
    expectAttestation(v(`${h}.${b64url({ sub: "a\u0000b", exp: T + 60 })}.${s}`), "malformed", /NUL/);
    // A 256-byte signature leaves 4 spare bits in its last character: setting one spells the same
    // bytes differently, and only the canonical spelling is accepted.
    const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const spare = `${s.slice(0, -1)}${B64[B64.indexOf(s.at(-1)!) + 1]}`;
    expect(Buffer.from(spare, "base64url").equals(Buffer.from(s, "base64url"))).toBe(true);
    expectAttestation(v(`${h}.${p}.${spare}`), "malformed", /canonical/);
  });

  it("never echoes the token in its messages", () => {
    const token = rsa2.sign(claims({ sub: "secret-subject-7781" }), { kid: "secret-kid-9912" });
    const err = expectAttestation(() => verifyJwt(token, rsa.jwks(), { algorithms: ["RS256"], now: NOW }), "unknown_key");
    for (const part of [...token.split("."), "secret-subject-7781", "secret-kid-9912"]) expect(err.message).not.toContain(part);
  });

  it("answers garbage with an AttestationError, never another error (seeded random inputs)", () => {
    const seed = 20261123;
    const rnd = mulberry32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const randomString = (n: number, alphabet?: string) =>
      Array.from({ length: n }, () => (alphabet ? alphabet[Math.floor(rnd() * alphabet.length)] : String.fromCharCode(Math.floor(rnd() * 0x10000)))).join("");
    const valid = [rsa.sign(claims()), ec.sign(claims()), rsa.sign(projectedTokenPayload({ now: NOW })), ec.sign(projectedTokenPayload({ now: NOW }))];
    const oddJson = ["null", "[]", '"s"', "1", "{}", '{"alg":1}', '{"alg":"RS256","kid":5}', '{"alg":"RS256","kid":""}', '{"alg":"RS256","typ":[]}', '{"__proto__":{"alg":"RS256"}}', '{"alg":"RS256","constructor":1}', '{"exp":1e400}', '{"exp":-1}', '{"iss":{},"exp":9e9}', `{"iss":"${CLUSTER_ISSUER}","exp":9e9,"aud":5}`, `{"iss":"${CI}","exp":9e9}`];
    const generators: (() => string)[] = [
      () => randomString(Math.floor(rnd() * 300)),
      () => randomString(Math.floor(rnd() * 300), `${B64}.=+/ `),
      () => [0, 1, 2].map(() => randomString(Math.floor(rnd() * 60), B64)).join("."),
      () => {
        const t = pick(valid);
        const i = Math.floor(rnd() * t.length);
        let c = pick([...B64, "."]);
        if (c === t[i]) c = c === "A" ? "B" : "A";
        return t.slice(0, i) + c + t.slice(i + 1);
      },
      () => {
        const t = pick(valid);
        return t.slice(0, Math.floor(rnd() * t.length));
      },
      () => {
        const [h, p, s] = pick(valid).split(".");
        return pick([`${p}.${h}.${s}`, `${h}.${s}.${p}`, `${h}..${s}`, `${h}.${p}.`, `.${p}.${s}`, `${h}.${p}.${s}.`]);
      },
      () => `${b64url(pick(oddJson))}.${b64url(pick(oddJson))}.${randomString(86, B64)}`,
      () => `${b64url({ alg: pick(["RS256", "ES256", "EdDSA", "PS256", "ES384"]), kid: pick([rsa.kid, ec.kid, "x"]) })}.${b64url(pick(oddJson))}.${randomString(pick([64, 86, 342, 0, 1]), B64)}`,
      () => Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256))).toString("latin1"),
    ];
    const k8s = new KubernetesAttestor([{ issuer: CLUSTER_ISSUER, keys: { keys: [rsa.jwk(), ec.jwk()] }, audiences: ["signet"] }]);
    const posture = new PostureAttestor([{ issuer: CI, keys: { keys: [rsa.jwk(), ec.jwk()] }, algorithms: ["RS256", "ES256"] }]);
    const verifiers = [
      (t: string) => verifyJwt(t, { keys: [rsa.jwk(), ec.jwk()] }, { algorithms: allowAll, now: NOW }),
      (t: string) => k8s.verify(t, NOW),
      (t: string) => posture.verify(t, NOW),
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const input = pick(generators)();
      for (const verify of verifiers) {
        try {
          verify(input);
        } catch (err) {
          if (!(err instanceof AttestationError)) throw new Error(`seed ${seed}, iteration ${i}: ${String(err)} for ${JSON.stringify(input)}`);
          seen.add(err.code);
          continue;
        }
        throw new Error(`seed ${seed}, iteration ${i}: garbage verified: ${JSON.stringify(input)}`);
      }
    }
    expect([...seen]).toEqual(expect.arrayContaining(["malformed", "bad_signature", "wrong_issuer"]));
  });
});

describe("PostureAttestor", () => {
  let attestor: PostureAttestor;
  beforeAll(() => {
    attestor = new PostureAttestor(
      [
        { issuer: CI, keys: rsa.jwks(), algorithms: ["RS256"], audience: "signet" },
        { issuer: "https://node-agent.example.internal", keys: ec.jwks(), algorithms: ["ES256"] },
      ],
      { maxAgeSeconds: 300 },
    );
  });
  const posture = (over: Record<string, unknown> = {}) =>
    claims({ aud: ["signet", "other"], image_digest: DIGEST, namespace: "inference", node_id: "gpu-node-7", compliance: { status: "compliant", checkedBy: "kyverno" }, ...over });

  it("verifies a posture assertion into Evidence with flattened claims", () => {
    const payload = posture({ jti: "run-8812", pipeline: "release", attempt: 2, signed: true, tags: ["gpu", "prod"], nested: { a: 1 }, mixed: ["a", 1], nothing: null });
    const token = rsa.sign(payload);
    const ev = attestor.verify(token, NOW);
    expect(ev).toEqual({
      type: "posture",
      issuer: CI,
      subject: "build-4711",
      nodeId: "gpu-node-7",
      claims: {
        imageDigest: DIGEST,
        namespace: "inference",
        nodeId: "gpu-node-7",
        compliant: true,
        iss: CI,
        sub: "build-4711",
        aud: ["signet", "other"],
        iat: T - 10,
        exp: T + 300,
        jti: "run-8812",
        pipeline: "release",
        attempt: 2,
        signed: true,
        tags: ["gpu", "prod"],
      },
      issuedAt: new Date((T - 10) * 1000),
      expiresAt: new Date((T + 300) * 1000),
      uniqueId: "run-8812",
      digest: createHash("sha256").update(token).digest("hex"),
    });
  });

  it("chooses the attester by iss; an attester without an audience takes any aud", () => {
    const ev = attestor.verify(ec.sign(claims({ iss: "https://node-agent.example.internal", imageDigest: DIGEST, nodeId: "n1", compliant: true })), NOW);
    expect(ev.issuer).toBe("https://node-agent.example.internal");
    expect(ev.claims).toMatchObject({ imageDigest: DIGEST, nodeId: "n1", compliant: true });
    expect(ev.nodeId).toBe("n1");
    // The same token under another attester's key is refused.
    expectAttestation(() => attestor.verify(ec.sign(claims({ iss: CI, aud: "signet" }), { alg: "ES256" }), NOW), "unsupported_alg");
  });

  it("keeps the normalised claims from being overridden by raw ones", () => {
    // JSON.parse makes "__proto__" an own member, as a decoded token would have it.
    const proto = JSON.parse('{"__proto__":{"admin":true}}') as Record<string, unknown>;
    const ev = attestor.verify(rsa.sign(posture({ compliant: "yes", compliance: { status: "noncompliant" }, nodeId: "gpu-node-7", ...proto })), NOW);
    expect(ev.claims.compliant).toBe(false);
    expect(ev.claims.nodeId).toBe("gpu-node-7");
    expect(Object.getPrototypeOf(ev.claims)).toBe(Object.prototype);
    expect(Object.hasOwn(ev.claims, "__proto__")).toBe(false);
    expect((ev.claims as Record<string, unknown>).admin).toBeUndefined();
    const protoString = JSON.parse('{"__proto__":"x"}') as Record<string, unknown>;
    expect(Object.hasOwn(attestor.verify(rsa.sign(posture(protoString)), NOW).claims, "__proto__")).toBe(false);
    // A negative statement wins over a positive one.
    expect(attestor.verify(rsa.sign(posture({ compliant: true, compliance: { status: "failed" } })), NOW).claims.compliant).toBe(false);
    expect(attestor.verify(rsa.sign(posture({ compliance: undefined, compliant: true })), NOW).claims.compliant).toBe(true);
    expect(attestor.verify(rsa.sign(posture({ compliance: undefined })), NOW).claims.compliant).toBe(false);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ imageDigest: "sha256:other" })), NOW), "claim_mismatch", /image_digest and imageDigest differ/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ node_id: "a", nodeId: "b" })), NOW), "claim_mismatch");
    expectAttestation(() => attestor.verify(rsa.sign(posture({ namespace: ["a"] })), NOW), "malformed", /namespace/);
    const bare = attestor.verify(rsa.sign(claims({ aud: "signet" })), NOW);
    expect(bare.nodeId).toBeNull();
    expect(bare.claims).not.toHaveProperty("nodeId");
  });

  it("refuses a wrong issuer, a wrong or missing audience", () => {
    expectAttestation(() => attestor.verify(rsa.sign(posture({ iss: "https://ci.attacker.example" })), NOW), "wrong_issuer");
    expectAttestation(() => attestor.verify(rsa.sign(posture({ iss: undefined })), NOW), "missing_claim", /iss/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ aud: ["vault"] })), NOW), "wrong_audience");
    expectAttestation(() => attestor.verify(rsa.sign(posture({ aud: undefined })), NOW), "missing_claim", /aud/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ aud: [1] })), NOW), "malformed");
  });

  it("requires a recent iat, a jti and a sub", () => {
    expectAttestation(() => attestor.verify(rsa.sign(posture({ iat: T - 301 })), NOW), "too_old", /301 s ago; at most 300/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ iat: undefined })), NOW), "missing_claim", /iat/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ iat: T + 120 })), NOW), "not_yet_valid", /iat/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ jti: undefined })), NOW), "missing_claim", /jti/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ jti: 7 })), NOW), "malformed", /jti/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ sub: undefined })), NOW), "missing_claim", /sub/);
    expectAttestation(() => attestor.verify(rsa.sign(posture({ exp: T - 60 })), NOW), "expired");
  });

  it("refuses alg none and HS256 from a configured issuer, and a forged signature", () => {
    expectAttestation(() => attestor.verify(unsignedToken(posture()), NOW), "unsupported_alg");
    expectAttestation(() => attestor.verify(hmacWithPublicKey(rsa, posture()), NOW), "unsupported_alg");
    expectAttestation(() => attestor.verify(attacker.sign(posture(), { kid: rsa.kid }), NOW), "bad_signature");
  });

  it("refuses a bad configuration at construction", () => {
    expect(() => new PostureAttestor([{ issuer: CI, keys: rsa.jwks(), algorithms: [] }])).toThrow(/at least one algorithm/);
    expect(() => new PostureAttestor([{ issuer: CI, keys: rsa.jwks(), algorithms: ["HS256" as JwtAlgorithm] }])).toThrow(/HS256/);
    expect(() => new PostureAttestor([{ issuer: CI, keys: rsa.jwks(), algorithms: ["RS256"] }, { issuer: CI, keys: ec.jwks(), algorithms: ["ES256"] }])).toThrow(/twice/);
  });
});

describe("KubernetesAttestor", () => {
  let attestor: KubernetesAttestor;
  beforeAll(() => {
    attestor = new KubernetesAttestor([
      { issuer: CLUSTER_ISSUER, keys: { keys: [rsa.jwk(), ec.jwk()] }, audiences: ["signet", "https://signet.internal"] },
      { issuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", keys: rsa2.jwks(), audiences: ["signet"] },
    ]);
  });
  const projected = (over: Record<string, unknown> = {}) => ({ ...projectedTokenPayload({ now: new Date(NOW.getTime() - 60_000) }), ...over });

  it("verifies a projected service-account token (RS256) into Evidence", () => {
    const payload = projected();
    const token = rsa.sign(payload);
    expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString())).toEqual({ alg: "RS256", kid: rsa.kid });
    expect(attestor.verify(token, NOW)).toEqual({
      type: "kubernetes",
      issuer: CLUSTER_ISSUER,
      subject: "system:serviceaccount:inference:vllm",
      nodeId: "gpu-node-7",
      claims: {
        namespace: "inference",
        serviceAccount: "vllm",
        serviceAccountUid: "c0ffee00-1234-4abc-8def-0123456789ab",
        podName: "vllm-6d9c7b8f5d-x2kqp",
        podUid: "a8e4c2d1-5b6f-4e3a-9c8d-7f1e2d3c4b5a",
        nodeName: "gpu-node-7",
        nodeUid: "3f1b0c6e-2d7a-4f51-9a77-0c1e5b9d8a42",
      },
      issuedAt: new Date((payload.iat as number) * 1000),
      expiresAt: new Date((payload.exp as number) * 1000),
      uniqueId: payload.jti,
      digest: createHash("sha256").update(token).digest("hex"),
    });
  });

  it("verifies ES256, a string aud, and a token without pod, node or jti (pre-1.29)", () => {
    const k8s = projected()["kubernetes.io"] as Record<string, unknown>;
    const ev = attestor.verify(ec.sign(projected({ aud: "https://signet.internal", jti: undefined, "kubernetes.io": { namespace: k8s.namespace, serviceaccount: k8s.serviceaccount } })), NOW);
    expect(ev.uniqueId).toBeNull();
    expect(ev.nodeId).toBeNull();
    expect(ev.claims).toEqual({ namespace: "inference", serviceAccount: "vllm", serviceAccountUid: "c0ffee00-1234-4abc-8def-0123456789ab" });
  });

  it("refuses a wrong issuer, a wrong audience and another cluster's key", () => {
    expectAttestation(() => attestor.verify(rsa.sign(projected({ iss: "https://kubernetes.default.svc" })), NOW), "wrong_issuer");
    expectAttestation(() => attestor.verify(rsa.sign(projected({ aud: ["vault", "https://kubernetes.default.svc.cluster.local"] })), NOW), "wrong_audience");
    expectAttestation(() => attestor.verify(rsa.sign(projected({ aud: undefined })), NOW), "missing_claim", /aud/);
    // Signed by cluster B's key but claiming cluster A: A's keys do not know the kid.
    expectAttestation(() => attestor.verify(rsa2.sign(projected()), NOW), "unknown_key");
  });

  it("refuses a sub that disagrees with the kubernetes.io claim", () => {
    expectAttestation(() => attestor.verify(rsa.sign(projected({ sub: "system:serviceaccount:kube-system:vllm" })), NOW), "claim_mismatch", /namespaces/);
    expectAttestation(() => attestor.verify(rsa.sign(projected({ sub: "system:serviceaccount:inference:admin" })), NOW), "claim_mismatch", /service accounts/);
    expectAttestation(() => attestor.verify(rsa.sign(projected({ sub: "system:node:gpu-node-7" })), NOW), "malformed", /system:serviceaccount/);
    expectAttestation(() => attestor.verify(rsa.sign(projected({ sub: "system:serviceaccount:inference:vllm:extra" })), NOW), "malformed");
    const k8s = projected()["kubernetes.io"] as Record<string, unknown>;
    expectAttestation(() => attestor.verify(rsa.sign(projected({ "kubernetes.io": { ...k8s, pod: { name: "vllm" } } })), NOW), "malformed", /pod.uid/);
    expectAttestation(() => attestor.verify(rsa.sign(projected({ "kubernetes.io": { ...k8s, namespace: "Inference" } })), NOW), "malformed", /namespace/);
  });

  it("refuses a legacy secret-based token (no exp, no kubernetes.io claim)", () => {
    const legacy = {
      iss: CLUSTER_ISSUER,
      sub: "system:serviceaccount:inference:vllm",
      aud: ["signet"],
      "kubernetes.io/serviceaccount/namespace": "inference",
      "kubernetes.io/serviceaccount/secret.name": "vllm-token-x7k2p",
      "kubernetes.io/serviceaccount/service-account.name": "vllm",
      "kubernetes.io/serviceaccount/service-account.uid": "c0ffee00-1234-4abc-8def-0123456789ab",
    };
    expectAttestation(() => attestor.verify(rsa.sign(legacy), NOW), "missing_claim", /exp/);
    expectAttestation(() => attestor.verify(rsa.sign({ ...legacy, exp: T + 60 }), NOW), "missing_claim", /kubernetes.io/);
  });

  it("refuses expired, not-yet-valid, tampered, unsigned, HMAC and non-RS256/ES256 tokens", () => {
    expectAttestation(() => attestor.verify(rsa.sign(projected({ exp: T - 3600 })), NOW), "expired");
    expectAttestation(() => attestor.verify(rsa.sign(projected({ nbf: T + 600 })), NOW), "not_yet_valid");
    const [h, , s] = rsa.sign(projected()).split(".");
    expectAttestation(() => attestor.verify(`${h}.${b64url(projected({ sub: "system:serviceaccount:kube-system:admin", "kubernetes.io": { namespace: "kube-system", serviceaccount: { name: "admin", uid: "u" } } }))}.${s}`, NOW), "bad_signature");
    expectAttestation(() => attestor.verify(unsignedToken(projected()), NOW), "unsupported_alg");
    expectAttestation(() => attestor.verify(hmacWithPublicKey(rsa, projected()), NOW), "unsupported_alg");
    const ps = new TokenIssuer("PS256", { kid: rsa.kid });
    expectAttestation(() => attestor.verify(ps.sign(projected()), NOW), "unsupported_alg", /PS256 is not accepted/);
    expectAttestation(() => attestor.verify(rsa.sign(projected(), { jku: `${CLUSTER_ISSUER}/openid/v1/jwks` }), NOW), "unsupported_header");
  });

  it("bounds a token's age when maxAgeSeconds is set", () => {
    const strict = new KubernetesAttestor([{ issuer: CLUSTER_ISSUER, keys: rsa.jwks(), audiences: ["signet"] }], { maxAgeSeconds: 30 });
    expectAttestation(() => strict.verify(rsa.sign(projected()), NOW), "too_old");
    expect(strict.verify(rsa.sign(projectedTokenPayload({ now: NOW })), NOW).subject).toBe("system:serviceaccount:inference:vllm");
  });
});

describe("parseJwks and loadJwks", () => {
  let dir: string;
  let server: Server;
  let base: string;
  let served: { keys: unknown[] };
  let requests: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "signet-jwks-"));
    served = rsa.jwks();
    server = createServer((req, res) => {
      requests.push(req.url ?? "");
      const path = new URL(req.url ?? "/", base).pathname;
      if (path === "/.well-known/openid-configuration") {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/openid/v1/jwks`, response_types_supported: ["id_token"], subject_types_supported: ["public"], id_token_signing_alg_values_supported: ["RS256"] }));
      } else if (path === "/openid/v1/jwks" || path === "/jwks") {
        res.setHeader("content-type", "application/jwk-set+json");
        res.end(JSON.stringify(served));
      } else if (path === "/redirect") {
        res.writeHead(302, { location: "/jwks" }).end();
      } else if (path === "/huge") {
        res.end(JSON.stringify({ keys: [], pad: "x".repeat(2 * 1024 * 1024) }));
      } else if (path === "/slow") {
        setTimeout(() => res.end("{}"), 2000);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("parseJwks keeps the public members, drops encryption keys, and refuses private or odd keys", () => {
    const set = parseJwks({ keys: [{ ...rsa.jwk(), x5c: ["MIIB"], x5t: "abc" }, { ...ec.jwk(), use: "enc" }] });
    expect(set.keys).toHaveLength(1);
    expect(Object.keys(set.keys[0]!).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    expect(Object.isFrozen(set.keys[0])).toBe(true);
    const priv = rsa.privateKey.export({ format: "jwk" });
    expectAttestation(() => parseJwks({ keys: [{ ...priv, kid: "k1" }] }), "bad_jwks", /private/);
    expectAttestation(() => parseJwks({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }), "bad_jwks", /private or secret/);
    expectAttestation(() => parseJwks({ keys: [{ kty: "oct", kid: "x" }] }), "bad_jwks", /kty/);
    expectAttestation(() => parseJwks({ keys: [{ ...ec.jwk(), crv: "P-521" }] }), "bad_jwks", /curve/);
    expectAttestation(() => parseJwks({ keys: [{ ...ec.jwk(), x: `${ec.jwk().x!.slice(0, -4)}AAAA` }] }), "bad_jwks", /not a valid public key/);
    expectAttestation(() => parseJwks({ keys: [] }), "bad_jwks", /no signature keys/);
    expectAttestation(() => parseJwks([rsa.jwk()]), "bad_jwks", /keys array/);
    // The verifier refuses a private JWK handed to it directly, too.
    const direct: PublicJwk = { ...(priv as PublicJwk), kid: rsa.kid, alg: "RS256" };
    expectAttestation(() => verifyJwt(rsa.sign(claims()), { keys: [direct] }, { algorithms: ["RS256"], now: NOW }), "weak_key", /private/);
  });

  it("loads a JWKS file, refuses one with a private key, and names the file", async () => {
    const file = join(dir, "cluster.jwks.json");
    writeFileSync(file, JSON.stringify({ keys: [rsa.jwk(), ec.jwk()] }));
    const set = await loadJwks({ file }, { fetchTimeoutMs: 1000 });
    expect(set.keys.map((k) => k.kid)).toEqual([rsa.kid, ec.kid]);
    expect(await loadJwks({ file }, { fetchTimeoutMs: 1000 })).toBe(set);
    const k8s = new KubernetesAttestor([{ issuer: CLUSTER_ISSUER, keys: set, audiences: ["signet"] }]);
    expect(k8s.verify(ec.sign(projectedTokenPayload({ now: NOW })), NOW).claims.serviceAccount).toBe("vllm");

    const privFile = join(dir, "leaked.jwks.json");
    writeFileSync(privFile, JSON.stringify({ keys: [{ ...ec.privateKey.export({ format: "jwk" }), kid: "leaked" }] }));
    await expectAttestationAsync(loadJwks({ file: privFile }, { fetchTimeoutMs: 1000 }), "bad_jwks", /leaked\.jwks\.json: key 0 \(kid "leaked"\).*private/);
    await expectAttestationAsync(loadJwks({ file: join(dir, "missing.json") }, { fetchTimeoutMs: 1000 }), "jwks_unavailable", /ENOENT/);
    writeFileSync(join(dir, "bad.json"), "{ not json");
    await expectAttestationAsync(loadJwks({ file: join(dir, "bad.json") }, { fetchTimeoutMs: 1000 }), "bad_jwks", /not JSON/);
  });

  it("loads a JWKS through OIDC discovery from a local server, and a JWKS URL", async () => {
    requests = [];
    const set = await loadJwks({ oidcDiscoveryUrl: `${base}/.well-known/openid-configuration` }, { fetchTimeoutMs: 2000 });
    expect(requests).toEqual(["/.well-known/openid-configuration", "/openid/v1/jwks"]);
    expect(set.keys.map((k) => k.kid)).toEqual([rsa.kid]);
    const k8s = new KubernetesAttestor([{ issuer: CLUSTER_ISSUER, keys: set, audiences: ["signet"] }]);
    expect(k8s.verify(rsa.sign(projectedTokenPayload({ now: NOW })), NOW).nodeId).toBe("gpu-node-7");
    // Cached: a second load asks nobody.
    expect(await loadJwks({ oidcDiscoveryUrl: `${base}/.well-known/openid-configuration` }, { fetchTimeoutMs: 2000 })).toBe(set);
    expect(requests).toHaveLength(2);
    expect((await loadJwks({ url: `${base}/jwks` }, { fetchTimeoutMs: 2000 })).keys).toHaveLength(1);
  });

  it("refreshes on an unknown kid, at most once a minute", async () => {
    let clock = 1_000_000;
    served = rsa.jwks();
    const set = await loadJwks({ url: `${base}/openid/v1/jwks?rotation` }, { fetchTimeoutMs: 2000, now: () => clock });
    const posture = new PostureAttestor([{ issuer: CI, keys: set, algorithms: ["RS256"] }]);
    requests = [];
    // The cluster rotates to rsa2: the first token with the new kid fails and starts a reload.
    served = { keys: [rsa.jwk(), rsa2.jwk()] };
    clock += 61_000;
    expectAttestation(() => posture.verify(rsa2.sign(claims()), new Date(clock)), "unknown_key");
    expect(await set.refresh()).toBe(true); // joins the reload in flight
    expect(requests).toEqual(["/openid/v1/jwks?rotation"]);
    expect(posture.verify(rsa2.sign(claims({ iat: clock / 1000 - 5, exp: clock / 1000 + 60 })), new Date(clock)).subject).toBe("build-4711");
    // Made-up kids within the minute do not reach the server.
    for (let i = 0; i < 20; i++) expectAttestation(() => posture.verify(attacker.sign(claims(), { kid: `bogus-${i}` }), new Date(clock)), "unknown_key");
    expect(await set.refresh()).toBe(false);
    expect(requests).toHaveLength(1);
    clock += 60_000;
    expect(await set.refresh()).toBe(true);
    expect(requests).toHaveLength(2);
  });

  it("keeps the previous keys when a reload fails", async () => {
    let clock = 5_000_000;
    const errors: AttestationError[] = [];
    served = rsa.jwks();
    const set = await loadJwks({ url: `${base}/openid/v1/jwks?failing` }, { fetchTimeoutMs: 2000, now: () => clock, onRefreshError: (e) => errors.push(e) });
    served = { keys: [{ ...rsa.privateKey.export({ format: "jwk" }), kid: "oops" }] };
    clock += 61_000;
    await expectAttestationAsync(set.refresh(), "bad_jwks", /private/);
    expect(set.keys.map((k) => k.kid)).toEqual([rsa.kid]);
    clock += 61_000;
    set.onUnknownKey?.();
    // Joins the background reload; its error handler ran first.
    await set.refresh().catch(() => undefined);
    expect(errors.map((e) => e.code)).toEqual(["bad_jwks"]);
    expect(set.keys.map((k) => k.kid)).toEqual([rsa.kid]);
  });

  it("refuses plain http off loopback, credentials, redirects, oversized and slow answers", async () => {
    await expectAttestationAsync(loadJwks({ url: "http://kubernetes.default.svc/openid/v1/jwks" }, { fetchTimeoutMs: 1000 }), "bad_jwks", /must be https/);
    await expectAttestationAsync(loadJwks({ url: "https://user:pw@example.internal/jwks" }, { fetchTimeoutMs: 1000 }), "bad_jwks", /credentials/);
    await expectAttestationAsync(loadJwks({ url: "not a url" }, { fetchTimeoutMs: 1000 }), "bad_jwks", /not a URL/);
    await expectAttestationAsync(loadJwks({}, { fetchTimeoutMs: 1000 }), "bad_jwks", /exactly one/);
    await expectAttestationAsync(loadJwks({ file: "/x", url: `${base}/jwks` }, { fetchTimeoutMs: 1000 }), "bad_jwks", /exactly one/);
    await expectAttestationAsync(loadJwks({ url: `${base}/redirect` }, { fetchTimeoutMs: 1000 }), "jwks_unavailable", /redirects are not followed/);
    await expectAttestationAsync(loadJwks({ url: `${base}/nowhere` }, { fetchTimeoutMs: 1000 }), "jwks_unavailable", /HTTP 404/);
    await expectAttestationAsync(loadJwks({ url: `${base}/huge` }, { fetchTimeoutMs: 2000 }), "jwks_unavailable", /bytes/);
    await expectAttestationAsync(loadJwks({ url: `${base}/slow` }, { fetchTimeoutMs: 200 }), "jwks_unavailable", /within 200 ms/);
    await expectAttestationAsync(loadJwks({ oidcDiscoveryUrl: `${base}/jwks` }, { fetchTimeoutMs: 1000 }), "bad_jwks", /no jwks_uri/);
    // A failed load is not cached.
    await expectAttestationAsync(loadJwks({ url: `${base}/nowhere` }, { fetchTimeoutMs: 1000 }), "jwks_unavailable");
  });

  it("fetches over https, trusting the configured CA only", async () => {
    const key = join(dir, "tls.key");
    const cert = join(dir, "tls.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end(JSON.stringify(ec.jwks())));
    await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve));
    try {
      const url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/openid/v1/jwks`;
      await expectAttestationAsync(loadJwks({ url }, { fetchTimeoutMs: 2000 }), "jwks_unavailable", /SELF_SIGNED|certificate/i);
      const set = await loadJwks({ url }, { fetchTimeoutMs: 2000, ca: readFileSync(cert, "utf8") });
      expect(set.keys.map((k) => k.kid)).toEqual([ec.kid]);
    } finally {
      tls.closeAllConnections();
      await new Promise((resolve) => tls.close(resolve));
    }
  });
});
