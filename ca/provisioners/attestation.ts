// The attestation provisioner type: the front door where workloads present evidence
// (POST /attest/{provisioner}). Its options say which evidence it trusts, where its posture policy
// lives, and which ACME and SCEP provisioners the credentials it hands out belong to.
import { badOption, boolOption, intOption, lifetimeWithinProvisioner, profileAllowed, provisionerDefaults } from "./common.js";
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
  /** TPM 2.0 devices: EK certificates must chain to `ekRootsFile` (PEM: manufacturer roots or
   * pinned intermediates; relative paths under $SIGNET_HOME); attestation key certificates live
   * `akLifetimeSeconds` (bounded by the provisioner's maximum). Null: TPMs are not accepted. */
  tpm: { ekRootsFile: string; akLifetimeSeconds: number } | null;
}

const KNOWN = new Set(["allowedProfiles", "description", "trustDomain", "policyFile", "acmeProvisioner", "scepProvisioner", "posture", "kubernetes", "joinTokens", "credentialTtlSeconds", "maxEvidenceBytes", "renewal", "tpm"]);

const str = (v: unknown, path: string, re = /^\S{1,2048}$/): string => {
  if (typeof v !== "string" || !re.test(v)) badOption(`${path} must be a string`, path);
  return v as string;
};

function keySource(o: Record<string, unknown>, path: string): KeySource {
  const src: KeySource = {};
  if (o.jwksFile !== undefined) src.jwksFile = str(o.jwksFile, `${path}.jwksFile`);
  for (const k of ["jwksUrl", "oidcDiscoveryUrl"] as const) {
    if (o[k] === undefined) continue;
    const u = str(o[k], `${path}.${k}`);
    if (!/^(https:\/\/|http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/])/.test(u)) badOption(`${path}.${k} must be an https URL (plain http only to the local host)`, `${path}.${k}`);
    src[k] = u;
  }
  if (Object.keys(src).length !== 1) badOption(`${path} needs exactly one of jwksFile, jwksUrl, oidcDiscoveryUrl`, path);
  return src;
}

function list(v: unknown, path: string): Record<string, unknown>[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 32 || !v.every((x) => typeof x === "object" && x !== null && !Array.isArray(x))) badOption(`${path} must be a list of objects`, path);
  return v as Record<string, unknown>[];
}

export function attestationSettings(options: Record<string, unknown>, defaults: { trustDomain: string; policyFile: string }): AttestationSettings {
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) badOption(`unknown attestation provisioner option ${JSON.stringify(k)}`, `options.${k}`);
  const posture = (options.posture ?? {}) as Record<string, unknown>;
  const kube = (options.kubernetes ?? {}) as Record<string, unknown>;
  const kubeAge = intOption(kube.maxAgeSeconds, 4 * 3600, 60, 7 * 86400, "options.kubernetes.maxAgeSeconds");
  const maxAge = intOption(posture.maxAgeSeconds, 300, 10, 3600, "options.posture.maxAgeSeconds");
  const ttl = intOption(options.credentialTtlSeconds, 900, 60, 86400, "options.credentialTtlSeconds");
  const maxBytes = intOption(options.maxEvidenceBytes, 16384, 512, 65536, "options.maxEvidenceBytes");
  const renewal = (options.renewal ?? {}) as Record<string, unknown>;
  if (typeof renewal !== "object" || renewal === null || Array.isArray(renewal)) badOption("options.renewal must be an object", "options.renewal");
  const maxRenewals = intOption(renewal.maxRenewals, 30, 0, 10_000, "options.renewal.maxRenewals");
  const maxRenewalAge = intOption(renewal.maxAgeSeconds, 30 * 86400, 300, 365 * 86400, "options.renewal.maxAgeSeconds");
  const joinTokens = boolOption(options.joinTokens, true, "options.joinTokens");
  let tpm: AttestationSettings["tpm"] = null;
  if (options.tpm !== undefined && options.tpm !== null) {
    const t = options.tpm as Record<string, unknown>;
    if (typeof t !== "object" || Array.isArray(t)) badOption("options.tpm must be an object", "options.tpm");
    for (const k of Object.keys(t)) if (k !== "ekRootsFile" && k !== "akLifetimeSeconds") badOption(`unknown option options.tpm.${k}`, `options.tpm.${k}`);
    tpm = { ekRootsFile: str(t.ekRootsFile, "options.tpm.ekRootsFile"), akLifetimeSeconds: intOption(t.akLifetimeSeconds, 30 * 86400, 300, 365 * 86400, "options.tpm.akLifetimeSeconds") };
  }
  return {
    trustDomain: options.trustDomain === undefined ? defaults.trustDomain : str(options.trustDomain, "options.trustDomain", /^[a-z0-9._-]{1,255}$/),
    policyFile: options.policyFile === undefined ? defaults.policyFile : str(options.policyFile, "options.policyFile"),
    acmeProvisioner: options.acmeProvisioner === undefined || options.acmeProvisioner === null ? null : str(options.acmeProvisioner, "options.acmeProvisioner", /^[a-z0-9-]{1,63}$/),
    scepProvisioner: options.scepProvisioner === undefined || options.scepProvisioner === null ? null : str(options.scepProvisioner, "options.scepProvisioner", /^[a-z0-9-]{1,63}$/),
    posture: {
      maxAgeSeconds: maxAge,
      attesters: list(posture.attesters, "options.posture.attesters").map((a, i) => {
        const path = `options.posture.attesters[${i}]`;
        const algorithms = (a.algorithms ?? ["ES256", "RS256", "EdDSA"]) as unknown[];
        if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((x) => (JWS_ALGORITHMS as readonly unknown[]).includes(x))) {
          badOption(`${path}.algorithms must be a list of ${JWS_ALGORITHMS.join(", ")}`, `${path}.algorithms`);
        }
        if (a.audience === undefined) badOption(`${path}.audience is required: the aud a token must carry to be meant for Signet`, `${path}.audience`);
        return { issuer: str(a.issuer, `${path}.issuer`), algorithms: algorithms as JwsAlgorithm[], audience: str(a.audience, `${path}.audience`), ...keySource(a, path) };
      }),
    },
    kubernetes: {
      maxAgeSeconds: kubeAge,
      clusters: list(kube.clusters, "options.kubernetes.clusters").map((c, i) => {
        const path = `options.kubernetes.clusters[${i}]`;
        const aud = c.audiences;
        if (!Array.isArray(aud) || aud.length === 0 || !aud.every((x) => typeof x === "string" && x.length > 0)) badOption(`${path}.audiences must be a non-empty list`, `${path}.audiences`);
        return { issuer: str(c.issuer, `${path}.issuer`), audiences: aud as string[], ...keySource(c, path) };
      }),
    },
    joinTokens,
    credentialTtlSeconds: ttl,
    maxEvidenceBytes: maxBytes,
    renewal: { maxRenewals: maxRenewals, maxAgeSeconds: maxRenewalAge },
    tpm,
  };
}

/** Certificates issued straight from the front door (a CSR with the evidence): the provisioner's
 * profile and lifetime, bounded by what the decision allows (attested() adds that). */
export const attestationProvisioner: ProvisionerBehaviour = {
  authorizeSign: () => [provisionerDefaults, profileAllowed, lifetimeWithinProvisioner],
};
