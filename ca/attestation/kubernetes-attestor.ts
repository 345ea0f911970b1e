// Kubernetes evidence: a projected service-account token exactly as the API server issues it
// (TokenRequest, bound to a pod and, since 1.30, to its node). The cluster is chosen by `iss`; the
// token must be addressed to Signet (`aud`), expire (legacy secret-based tokens do not, and carry no
// kubernetes.io claim, so they are refused), and its `sub` must name the same service account as its
// kubernetes.io claim.
import { createHash } from "node:crypto";
import { SignetError } from "../errors.js";
import { AttestationError } from "./errors.js";
import { DEFAULT_CLOCK_SKEW_SECONDS, parseJwt, verifyParsedJwt, type JwkSet, type JwtAlgorithm } from "./jws.js";
import type { Evidence } from "./types.js";

export interface KubernetesCluster {
  /** The cluster's service-account issuer (--service-account-issuer), exactly. */
  issuer: string;
  keys: JwkSet;
  /** Audiences Signet answers to; the token's aud must include one. */
  audiences: string[];
}

export interface KubernetesAttestorOptions {
  /** Clock skew allowed on exp, nbf and iat, in seconds. Default 30. */
  clockSkewSeconds?: number;
  /** The largest token accepted, in bytes. Default 16384. */
  maxTokenBytes?: number;
  /** When set, how old (`iat`) a token may be, in seconds. The API server may extend a projected
   * token's exp to a year (--service-account-extend-token-expiration); this bounds replay of one. */
  maxAgeSeconds?: number;
}

/** The API server signs service-account tokens with RS256 or ES256 keys. */
const ALGORITHMS: JwtAlgorithm[] = ["RS256", "ES256"];
const SUB = /^system:serviceaccount:([^:]+):([^:]+)$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_UID = 128;

interface KubernetesClaim {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  pod: { name: string; uid: string } | null;
  node: { name: string; uid: string } | null;
}

export class KubernetesAttestor {
  readonly #clusters: Map<string, KubernetesCluster>;
  readonly #opts: KubernetesAttestorOptions;

  constructor(clusters: readonly KubernetesCluster[], opts: KubernetesAttestorOptions = {}) {
    this.#clusters = new Map();
    clusters.forEach((c, i) => {
      const key = `clusters[${i}]`;
      if (typeof c.issuer !== "string" || c.issuer.length === 0) throw new SignetError("config_invalid", `${key}.issuer must be a non-empty string`);
      if (this.#clusters.has(c.issuer)) throw new SignetError("config_invalid", `${key}.issuer ${JSON.stringify(c.issuer)} is configured twice`);
      if (!Array.isArray(c.audiences) || c.audiences.length === 0 || !c.audiences.every((a) => typeof a === "string" && a.length > 0)) {
        throw new SignetError("config_invalid", `${key}.audiences must list at least one audience`);
      }
      this.#clusters.set(c.issuer, c);
    });
    if (opts.maxAgeSeconds !== undefined && !(Number.isFinite(opts.maxAgeSeconds) && opts.maxAgeSeconds > 0)) {
      throw new SignetError("config_invalid", "maxAgeSeconds must be a positive number when set");
    }
    this.#opts = opts;
  }

  verify(token: string, now: Date): Evidence {
    const jwt = parseJwt(token, this.#opts.maxTokenBytes);
    const iss = jwt.payload.iss;
    if (typeof iss !== "string") throw new AttestationError("missing_claim", "the token has no issuer (iss)");
    const cluster = this.#clusters.get(iss);
    if (!cluster) throw new AttestationError("wrong_issuer", "the token's issuer (iss) is not a configured cluster");
    const skew = this.#opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
    const { payload } = verifyParsedJwt(jwt, cluster.keys, { algorithms: ALGORITHMS, now, clockSkewSeconds: skew });

    checkAudience(payload.aud, cluster.audiences);
    const nowSeconds = now.getTime() / 1000;
    if (payload.iat !== undefined && payload.iat > nowSeconds + skew) throw new AttestationError("not_yet_valid", "the token's issue time (iat) is in the future");
    const maxAge = this.#opts.maxAgeSeconds;
    if (maxAge !== undefined) {
      if (payload.iat === undefined) throw new AttestationError("missing_claim", "the token has no issue time (iat)");
      if (nowSeconds - payload.iat > maxAge) throw new AttestationError("too_old", `the token was issued ${Math.floor(nowSeconds - payload.iat)} s ago; at most ${maxAge} s are accepted`);
    }

    const sub = payload.sub;
    if (sub === undefined) throw new AttestationError("missing_claim", "the token has no subject (sub)");
    const m = typeof sub === "string" ? SUB.exec(sub) : null;
    if (!m) throw new AttestationError("malformed", "the token's sub is not system:serviceaccount:<namespace>:<name>");
    const k8s = kubernetesClaim(payload["kubernetes.io"]);
    if (m[1] !== k8s.namespace) throw new AttestationError("claim_mismatch", "the token's sub and its kubernetes.io claim name different namespaces");
    if (m[2] !== k8s.serviceAccount.name) throw new AttestationError("claim_mismatch", "the token's sub and its kubernetes.io claim name different service accounts");

    const jti = payload.jti;
    if (jti !== undefined && (typeof jti !== "string" || jti.length === 0)) throw new AttestationError("malformed", "the token's jti is not a non-empty string");

    const claims: Evidence["claims"] = { namespace: k8s.namespace, serviceAccount: k8s.serviceAccount.name, serviceAccountUid: k8s.serviceAccount.uid };
    if (k8s.pod) Object.assign(claims, { podName: k8s.pod.name, podUid: k8s.pod.uid });
    if (k8s.node) Object.assign(claims, { nodeName: k8s.node.name, nodeUid: k8s.node.uid });
    return {
      type: "kubernetes",
      issuer: iss,
      subject: sub as string,
      nodeId: k8s.node?.name ?? null,
      claims,
      issuedAt: payload.iat === undefined ? null : new Date(payload.iat * 1000),
      expiresAt: new Date(payload.exp * 1000),
      uniqueId: (jti as string | undefined) ?? null,
      digest: createHash("sha256").update(token, "utf8").digest("hex"),
    };
  }
}

function checkAudience(aud: unknown, accepted: readonly string[]): void {
  if (aud === undefined) throw new AttestationError("missing_claim", "the token has no audience (aud)");
  const list = typeof aud === "string" ? [aud] : aud;
  if (!Array.isArray(list) || !list.every((a) => typeof a === "string")) throw new AttestationError("malformed", "the token's aud is neither a string nor a list of strings");
  if (!list.some((a) => accepted.includes(a))) throw new AttestationError("wrong_audience", "the token's audience (aud) includes none of the cluster's configured audiences");
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function named(v: unknown, what: string, name: RegExp): { name: string; uid: string } {
  if (!isObject(v)) throw new AttestationError("malformed", `the token's kubernetes.io.${what} is not an object`);
  if (typeof v.name !== "string" || !name.test(v.name)) throw new AttestationError("malformed", `the token's kubernetes.io.${what}.name is not a Kubernetes name`);
  if (typeof v.uid !== "string" || v.uid.length === 0 || v.uid.length > MAX_UID) throw new AttestationError("malformed", `the token's kubernetes.io.${what}.uid is not a non-empty string`);
  return { name: v.name, uid: v.uid };
}

function kubernetesClaim(v: unknown): KubernetesClaim {
  if (v === undefined) throw new AttestationError("missing_claim", "the token has no kubernetes.io claim (a legacy or non-Kubernetes token)");
  if (!isObject(v)) throw new AttestationError("malformed", "the token's kubernetes.io claim is not an object");
  if (typeof v.namespace !== "string" || !DNS_LABEL.test(v.namespace)) throw new AttestationError("malformed", "the token's kubernetes.io.namespace is not a Kubernetes namespace name");
  if (v.serviceaccount === undefined) throw new AttestationError("missing_claim", "the token's kubernetes.io claim has no serviceaccount");
  return {
    namespace: v.namespace,
    serviceAccount: named(v.serviceaccount, "serviceaccount", DNS_SUBDOMAIN),
    pod: v.pod === undefined ? null : named(v.pod, "pod", DNS_SUBDOMAIN),
    node: v.node === undefined ? null : named(v.node, "node", DNS_SUBDOMAIN),
  };
}
