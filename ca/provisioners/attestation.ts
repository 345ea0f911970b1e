// The attestation provisioner type: the front door where workloads present evidence
// (POST /attest/{provisioner}). Its options say which evidence it trusts, where its posture policy
// lives, and which ACME and SCEP provisioners the credentials it hands out belong to.
import { SignetError } from "../errors.js";
import { lifetimeWithinProvisioner, profileAllowed, provisionerDefaults } from "./common.js";
import type { ProvisionerBehaviour } from "./sign-options.js";

export const JWS_ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

export interface KeySource {
  jwksFile?: string;
  jwksUrl?: string;
  oidcDiscoveryUrl?: string;
}

export interface AttestationSettings {
  /** SPIFFE trust domain for identity templates. */
  trustDomain: string;
  /** Cedar policy file (hot-reloaded); relative paths are under $SIGNET_HOME. */
  policyFile: string;
  /** ACME provisioner EAB credentials are created for (it must require EAB). */
  acmeProvisioner: string | null;
  /** SCEP provisioner one-time challenges are created for. */
  scepProvisioner: string | null;
  /** Trusted attesters of signed posture assertions. */
  /** Each attester's tokens must name `audience` in `aud`, so a token meant for another service cannot be replayed here. */
  posture: { attesters: Array<KeySource & { issuer: string; algorithms: JwsAlgorithm[]; audience: string }>; maxAgeSeconds: number };
  /** Kubernetes clusters whose projected service-account tokens are accepted. */
  kubernetes: { clusters: Array<KeySource & { issuer: string; audiences: string[] }>; maxAgeSeconds: number };
  /** One-time join tokens (signet token join) are accepted. */
  joinTokens: boolean;
  /** How long handed-out credentials (EAB keys, SCEP challenges) stay usable. */
  credentialTtlSeconds: number;
  /** Largest evidence accepted, in bytes. */
  maxEvidenceBytes: number;
  /** Renewal over mTLS with a current certificate (evidence "certificate"), without attesting again:
   * at most `maxRenewals` in a row, and not once the first certificate of the line is older than
   * `maxAgeSeconds`. */
  renewal: { maxRenewals: number; maxAgeSeconds: number };
}

const KNOWN = new Set(["allowedProfiles", "description", "trustDomain", "policyFile", "acmeProvisioner", "scepProvisioner", "posture", "kubernetes", "joinTokens", "credentialTtlSeconds", "maxEvidenceBytes", "renewal"]);

function bad(message: string, path: string): never {
  throw new SignetError("bad_provisioner", message, { detail: { path } });
}

const str = (v: unknown, path: string, re = /^\S{1,2048}$/): string => {
  if (typeof v !== "string" || !re.test(v)) bad(`${path} must be a string`, path);
  return v as string;
};

function keySource(o: Record<string, unknown>, path: string): KeySource {
  const src: KeySource = {};
  if (o.jwksFile !== undefined) src.jwksFile = str(o.jwksFile, `${path}.jwksFile`);
  for (const k of ["jwksUrl", "oidcDiscoveryUrl"] as const) {
    if (o[k] === undefined) continue;
    const u = str(o[k], `${path}.${k}`);
    if (!/^(https:\/\/|http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/])/.test(u)) bad(`${path}.${k} must be an https URL (plain http only to the local host)`, `${path}.${k}`);
    src[k] = u;
  }
  if (Object.keys(src).length !== 1) bad(`${path} needs exactly one of jwksFile, jwksUrl, oidcDiscoveryUrl`, path);
  return src;
}

function list(v: unknown, path: string): Record<string, unknown>[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 32 || !v.every((x) => typeof x === "object" && x !== null && !Array.isArray(x))) bad(`${path} must be a list of objects`, path);
  return v as Record<string, unknown>[];
}

export function attestationSettings(options: Record<string, unknown>, defaults: { trustDomain: string; policyFile: string }): AttestationSettings {
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) bad(`unknown attestation provisioner option ${JSON.stringify(k)}`, `options.${k}`);
  const posture = (options.posture ?? {}) as Record<string, unknown>;
  const kube = (options.kubernetes ?? {}) as Record<string, unknown>;
  const kubeAge = kube.maxAgeSeconds ?? 4 * 3600;
  if (typeof kubeAge !== "number" || !Number.isInteger(kubeAge) || kubeAge < 60 || kubeAge > 7 * 86400) bad("options.kubernetes.maxAgeSeconds must be 60-604800", "options.kubernetes.maxAgeSeconds");
  const maxAge = posture.maxAgeSeconds ?? 300;
  if (typeof maxAge !== "number" || !Number.isInteger(maxAge) || maxAge < 10 || maxAge > 3600) bad("options.posture.maxAgeSeconds must be 10-3600", "options.posture.maxAgeSeconds");
  const ttl = options.credentialTtlSeconds ?? 900;
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 60 || ttl > 86400) bad("options.credentialTtlSeconds must be 60-86400", "options.credentialTtlSeconds");
  const maxBytes = options.maxEvidenceBytes ?? 16384;
  if (typeof maxBytes !== "number" || !Number.isInteger(maxBytes) || maxBytes < 512 || maxBytes > 65536) bad("options.maxEvidenceBytes must be 512-65536", "options.maxEvidenceBytes");
  const renewal = (options.renewal ?? {}) as Record<string, unknown>;
  if (typeof renewal !== "object" || renewal === null || Array.isArray(renewal)) bad("options.renewal must be an object", "options.renewal");
  const maxRenewals = renewal.maxRenewals ?? 30;
  if (typeof maxRenewals !== "number" || !Number.isInteger(maxRenewals) || maxRenewals < 0 || maxRenewals > 10_000) bad("options.renewal.maxRenewals must be 0-10000", "options.renewal.maxRenewals");
  const maxRenewalAge = renewal.maxAgeSeconds ?? 30 * 86400;
  if (typeof maxRenewalAge !== "number" || !Number.isInteger(maxRenewalAge) || maxRenewalAge < 300 || maxRenewalAge > 365 * 86400) bad("options.renewal.maxAgeSeconds must be 300-31536000", "options.renewal.maxAgeSeconds");
  const joinTokens = options.joinTokens ?? true;
  if (typeof joinTokens !== "boolean") bad("options.joinTokens must be true or false", "options.joinTokens");
  return {
    trustDomain: options.trustDomain === undefined ? defaults.trustDomain : str(options.trustDomain, "options.trustDomain", /^[a-z0-9._-]{1,255}$/),
    policyFile: options.policyFile === undefined ? defaults.policyFile : str(options.policyFile, "options.policyFile"),
    acmeProvisioner: options.acmeProvisioner === undefined || options.acmeProvisioner === null ? null : str(options.acmeProvisioner, "options.acmeProvisioner", /^[a-z0-9-]{1,63}$/),
    scepProvisioner: options.scepProvisioner === undefined || options.scepProvisioner === null ? null : str(options.scepProvisioner, "options.scepProvisioner", /^[a-z0-9-]{1,63}$/),
    posture: {
      maxAgeSeconds: maxAge as number,
      attesters: list(posture.attesters, "options.posture.attesters").map((a, i) => {
        const path = `options.posture.attesters[${i}]`;
        const algorithms = (a.algorithms ?? ["ES256", "RS256", "EdDSA"]) as unknown[];
        if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((x) => (JWS_ALGORITHMS as readonly unknown[]).includes(x))) {
          bad(`${path}.algorithms must be a list of ${JWS_ALGORITHMS.join(", ")}`, `${path}.algorithms`);
        }
        if (a.audience === undefined) bad(`${path}.audience is required: the aud a token must carry to be meant for Signet`, `${path}.audience`);
        return { issuer: str(a.issuer, `${path}.issuer`), algorithms: algorithms as JwsAlgorithm[], audience: str(a.audience, `${path}.audience`), ...keySource(a, path) };
      }),
    },
    kubernetes: {
      maxAgeSeconds: kubeAge as number,
      clusters: list(kube.clusters, "options.kubernetes.clusters").map((c, i) => {
        const path = `options.kubernetes.clusters[${i}]`;
        const aud = c.audiences;
        if (!Array.isArray(aud) || aud.length === 0 || !aud.every((x) => typeof x === "string" && x.length > 0)) bad(`${path}.audiences must be a non-empty list`, `${path}.audiences`);
        return { issuer: str(c.issuer, `${path}.issuer`), audiences: aud as string[], ...keySource(c, path) };
      }),
    },
    joinTokens,
    credentialTtlSeconds: ttl as number,
    maxEvidenceBytes: maxBytes as number,
    renewal: { maxRenewals: maxRenewals as number, maxAgeSeconds: maxRenewalAge as number },
  };
}

/** Certificates issued straight from the front door (a CSR with the evidence): the provisioner's
 * profile and lifetime, bounded by what the decision allows (attested() adds that). */
export const attestationProvisioner: ProvisionerBehaviour = {
  authorizeSign: () => [provisionerDefaults, profileAllowed, lifetimeWithinProvisioner],
};
