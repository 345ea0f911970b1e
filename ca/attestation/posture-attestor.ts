// Posture evidence: a short-lived JWT in which an attester Signet trusts (a CI/CD system, a node
// agent) asserts what a workload is and runs on. The attester is chosen by `iss`; its key set and
// algorithms then decide the signature. Claims are flattened for the posture policy; the names the
// policy relies on (imageDigest, namespace, nodeId, compliant) come only from their normalisation,
// never from a raw claim of the same name, so Evidence.nodeId and claims.nodeId cannot disagree.
import { createHash } from "node:crypto";
import { SignetError } from "../errors.js";
import { AttestationError } from "./errors.js";
import { assertAlgorithms, DEFAULT_CLOCK_SKEW_SECONDS, parseJwt, verifyParsedJwt, type JwkSet, type JwtAlgorithm, type JwtPayload } from "./jws.js";
import type { Evidence } from "./types.js";

export interface PostureAttester {
  /** The attester's `iss`, exactly. */
  issuer: string;
  keys: JwkSet;
  /** The algorithms it signs with. */
  algorithms: JwtAlgorithm[];
  /** When set, `aud` must contain it. */
  audience?: string;
}

export interface PostureAttestorOptions {
  /** How old (`iat`) an assertion may be, in seconds. Default 300. */
  maxAgeSeconds?: number;
  /** Clock skew allowed on exp, nbf and iat, in seconds. Default 30. */
  clockSkewSeconds?: number;
  /** The largest token accepted, in bytes. Default 16384. */
  maxTokenBytes?: number;
}

type Claim = Evidence["claims"][string];

/** Claim names the normalisation owns: never copied as they come. */
const NORMALISED = new Set(["imageDigest", "image_digest", "namespace", "nodeId", "node_id", "compliant", "compliance"]);

export class PostureAttestor {
  readonly #attesters: Map<string, PostureAttester>;
  readonly #maxAgeSeconds: number;
  readonly #skew: number;
  readonly #maxTokenBytes: number | undefined;

  constructor(attesters: readonly PostureAttester[], opts: PostureAttestorOptions = {}) {
    this.#attesters = new Map();
    attesters.forEach((a, i) => {
      const key = `attesters[${i}]`;
      if (typeof a.issuer !== "string" || a.issuer.length === 0) throw new SignetError("config_invalid", `${key}.issuer must be a non-empty string`);
      if (this.#attesters.has(a.issuer)) throw new SignetError("config_invalid", `${key}.issuer ${JSON.stringify(a.issuer)} is configured twice`);
      assertAlgorithms(a.algorithms, `${key}.algorithms`);
      if (a.audience !== undefined && (typeof a.audience !== "string" || a.audience.length === 0)) throw new SignetError("config_invalid", `${key}.audience must be a non-empty string when set`);
      this.#attesters.set(a.issuer, a);
    });
    this.#maxAgeSeconds = opts.maxAgeSeconds ?? 300;
    if (!Number.isFinite(this.#maxAgeSeconds) || this.#maxAgeSeconds <= 0) throw new SignetError("config_invalid", "maxAgeSeconds must be a positive number");
    this.#skew = opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
    this.#maxTokenBytes = opts.maxTokenBytes;
  }

  /** Verifies a posture assertion into Evidence. Single use of `jti` is the caller's to enforce. */
  verify(token: string, now: Date): Evidence {
    const jwt = parseJwt(token, this.#maxTokenBytes);
    const iss = jwt.payload.iss;
    if (typeof iss !== "string") throw new AttestationError("missing_claim", "the assertion has no issuer (iss)");
    const attester = this.#attesters.get(iss);
    if (!attester) throw new AttestationError("wrong_issuer", "the assertion's issuer (iss) is not a configured attester");
    const { payload } = verifyParsedJwt(jwt, attester.keys, { algorithms: attester.algorithms, now, clockSkewSeconds: this.#skew });

    if (attester.audience !== undefined) checkAudience(payload.aud, attester.audience);
    const iat = payload.iat;
    if (iat === undefined) throw new AttestationError("missing_claim", "the assertion has no issue time (iat)");
    const nowSeconds = now.getTime() / 1000;
    if (iat > nowSeconds + this.#skew) throw new AttestationError("not_yet_valid", "the assertion's issue time (iat) is in the future");
    if (nowSeconds - iat > this.#maxAgeSeconds) {
      throw new AttestationError("too_old", `the assertion was issued ${Math.floor(nowSeconds - iat)} s ago; at most ${this.#maxAgeSeconds} s are accepted`);
    }
    const jti = requiredString(payload, "jti", "a unique id (jti)");
    const sub = requiredString(payload, "sub", "a subject (sub)");

    const nodeId = eitherString(payload, "node_id", "nodeId");
    const claims = flatten(payload, nodeId);
    return {
      type: "posture",
      issuer: iss,
      subject: sub,
      nodeId,
      claims,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(payload.exp * 1000),
      uniqueId: jti,
      digest: createHash("sha256").update(token, "utf8").digest("hex"),
    };
  }
}

function checkAudience(aud: unknown, expected: string): void {
  if (aud === undefined) throw new AttestationError("missing_claim", "the assertion has no audience (aud)");
  const list = typeof aud === "string" ? [aud] : aud;
  if (!Array.isArray(list) || !list.every((a) => typeof a === "string")) throw new AttestationError("malformed", "the assertion's aud is neither a string nor a list of strings");
  if (!list.includes(expected)) throw new AttestationError("wrong_audience", "the assertion's audience (aud) does not include the one configured for its attester");
}

function requiredString(payload: JwtPayload, name: string, what: string): string {
  const v = payload[name];
  if (v === undefined) throw new AttestationError("missing_claim", `the assertion has no ${what}`);
  if (typeof v !== "string" || v.length === 0) throw new AttestationError("malformed", `the assertion's ${name} is not a non-empty string`);
  return v;
}

/** A claim that attesters spell two ways; both spellings present and different is refused. */
function eitherString(payload: JwtPayload, snake: string, camel: string): string | null {
  const a = payload[snake];
  const b = payload[camel];
  for (const [name, v] of [[snake, a], [camel, b]] as const) {
    if (v !== undefined && typeof v !== "string") throw new AttestationError("malformed", `the assertion's ${name} is not a string`);
  }
  if (a !== undefined && b !== undefined && a !== b) throw new AttestationError("claim_mismatch", `the assertion's ${snake} and ${camel} differ`);
  return (a ?? b ?? null) as string | null;
}

/** Compliant only on a positive statement and no negative one: a token that says both
 * `compliance.status: "noncompliant"` and `compliant: true` is not compliant. */
function compliance(payload: JwtPayload): boolean {
  const c = payload.compliance;
  const status = typeof c === "object" && c !== null && !Array.isArray(c) ? (c as Record<string, unknown>).status : undefined;
  const positive = status === "compliant" || payload.compliant === true;
  const negative = (status !== undefined && status !== "compliant") || (payload.compliant !== undefined && payload.compliant !== true);
  return positive && !negative;
}

function flatten(payload: JwtPayload, nodeId: string | null): Record<string, Claim> {
  const entries: [string, Claim][] = [];
  const imageDigest = eitherString(payload, "image_digest", "imageDigest");
  if (imageDigest !== null) entries.push(["imageDigest", imageDigest]);
  const namespace = payload.namespace;
  if (namespace !== undefined) {
    if (typeof namespace !== "string") throw new AttestationError("malformed", "the assertion's namespace is not a string");
    entries.push(["namespace", namespace]);
  }
  if (nodeId !== null) entries.push(["nodeId", nodeId]);
  entries.push(["compliant", compliance(payload)]);
  for (const [name, v] of Object.entries(payload)) {
    if (NORMALISED.has(name) || name === "__proto__") continue;
    if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) entries.push([name, v]);
    else if (Array.isArray(v) && v.every((s) => typeof s === "string")) entries.push([name, [...v] as string[]]);
  }
  // fromEntries defines own properties, so no claim name can reach a prototype.
  return Object.fromEntries(entries);
}
