// A test issuer that mints JWTs the way real attesters do: RSA or EC keys, a JWKS with kids, and
// compact JWS signed with node:crypto. Kubernetes tokens have the exact shape of a projected
// service-account token (TokenRequest, bound to a pod and its node), header {"alg","kid"} with the
// kid the API server derives from the public key.
import { constants, createHash, createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import type { JwtAlgorithm, PublicJwk } from "../../ca/attestation/jws.js";

export const b64url = (v: string | Buffer | object): string =>
  (typeof v === "string" || Buffer.isBuffer(v) ? Buffer.from(v) : Buffer.from(JSON.stringify(v))).toString("base64url");

export interface KeyOptions {
  /** RSA modulus size (RS256/PS256). Default 2048. */
  bits?: number;
  kid?: string;
}

export class TokenIssuer {
  readonly alg: JwtAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly kid: string;

  constructor(alg: JwtAlgorithm, opts: KeyOptions = {}) {
    this.alg = alg;
    const pair =
      alg === "RS256" || alg === "PS256"
        ? generateKeyPairSync("rsa", { modulusLength: opts.bits ?? 2048 })
        : alg === "ES256"
          ? generateKeyPairSync("ec", { namedCurve: "P-256" })
          : alg === "ES384"
            ? generateKeyPairSync("ec", { namedCurve: "P-384" })
            : generateKeyPairSync("ed25519");
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    // The API server's kid: base64url(sha256(DER SubjectPublicKeyInfo)).
    this.kid = opts.kid ?? createHash("sha256").update(this.publicKey.export({ format: "der", type: "spki" })).digest("base64url");
  }

  /** The public JWK as a JWKS publishes it (the API server sets use, kty, kid, alg). */
  jwk(): PublicJwk {
    const e = this.publicKey.export({ format: "jwk" }) as Record<string, string>;
    return { use: "sig", kid: this.kid, alg: this.alg, ...e } as PublicJwk;
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: [this.jwk()] };
  }

  /** A compact JWS over `payload`; `header` replaces or adds header members (undefined removes). */
  sign(payload: object, header: Record<string, unknown> = {}): string {
    const h: Record<string, unknown> = { alg: this.alg, kid: this.kid, ...header };
    for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
    const input = `${b64url(h)}.${b64url(payload)}`;
    return `${input}.${this.signature(input).toString("base64url")}`;
  }

  signature(input: string): Buffer {
    const data = Buffer.from(input, "ascii");
    switch (this.alg) {
      case "RS256":
        return sign("sha256", data, this.privateKey);
      case "PS256":
        return sign("sha256", data, { key: this.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      case "ES256":
        return sign("sha256", data, { key: this.privateKey, dsaEncoding: "ieee-p1363" });
      case "ES384":
        return sign("sha384", data, { key: this.privateKey, dsaEncoding: "ieee-p1363" });
      case "EdDSA":
        return sign(null, data, this.privateKey);
    }
  }
}

/** An unsigned token (alg none), as an attacker would send it. */
export function unsignedToken(payload: object): string {
  return `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`;
}

/** The classic key-confusion token: HS256 with the issuer's public key (PEM) as the HMAC secret. */
export function hmacWithPublicKey(issuer: TokenIssuer, payload: object): string {
  const input = `${b64url({ alg: "HS256", typ: "JWT", kid: issuer.kid })}.${b64url(payload)}`;
  const secret = issuer.publicKey.export({ format: "pem", type: "spki" });
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

export const CLUSTER_ISSUER = "https://kubernetes.default.svc.cluster.local";

export interface ProjectedTokenOptions {
  now: Date;
  /** Default 3607 s: the API server's default for an expirationSeconds of 3600 plus its jitter. */
  lifetimeSeconds?: number;
  namespace?: string;
  serviceAccount?: string;
  audiences?: string[];
}

/** A projected service-account token's claims, as kube-apiserver 1.30+ writes them. */
export function projectedTokenPayload(opts: ProjectedTokenOptions): Record<string, unknown> {
  const iat = Math.floor(opts.now.getTime() / 1000);
  const ns = opts.namespace ?? "inference";
  const sa = opts.serviceAccount ?? "vllm";
  return {
    aud: opts.audiences ?? ["signet"],
    exp: iat + (opts.lifetimeSeconds ?? 3607),
    iat,
    iss: CLUSTER_ISSUER,
    jti: randomUUID(),
    "kubernetes.io": {
      namespace: ns,
      node: { name: "gpu-node-7", uid: "3f1b0c6e-2d7a-4f51-9a77-0c1e5b9d8a42" },
      pod: { name: "vllm-6d9c7b8f5d-x2kqp", uid: "a8e4c2d1-5b6f-4e3a-9c8d-7f1e2d3c4b5a" },
      serviceaccount: { name: sa, uid: "c0ffee00-1234-4abc-8def-0123456789ab" },
    },
    nbf: iat,
    sub: `system:serviceaccount:${ns}:${sa}`,
  };
}
