// The SCEP provisioner type: what a SCEP provisioner's options mean and how they are validated when
// an operator writes them, and the sign options an enrolment adds to the pipeline (what a one-time
// challenge was bound to; what a renewal must keep).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SignetError } from "../errors.js";
import type { Names } from "../ports.js";
import { badOption, boolOption, lifetimeWithinProvisioner, profileAllowed, provisionerDefaults, validateRoles, validateText, MAX_IDENTITY, MAX_NODE_ID } from "./common.js";
import type { ProvisionerBehaviour, SignOption } from "./sign-options.js";
import { attested, type AttestedBinding } from "../attestation/sign-options.js";

/** A SCEP provisioner's options, with defaults applied. */
export interface ScepSettings {
  /** "sha256$<salt hex>$<hash hex>" of the static challengePassword, or null for none. Written as
   * `challenge` (the secret itself), stored only hashed. */
  challengeHash: string | null;
  /** One-time challenges created by `signet scep challenge` / the admin API are accepted. */
  dynamicChallenges: boolean;
  /** Requests wait PENDING until an operator approves them. */
  manualApproval: boolean;
  /** RenewalReq signed with a still-valid certificate of this provisioner is accepted without a challenge. */
  renewal: boolean;
  /** DES3 content encryption, and SHA-1 in answers and GetCACaps (old devices only). */
  legacy: boolean;
  /** Refuse requests signed with SHA-1. Off by default: micromdm's scepclient and many devices sign
   * requests with SHA-1 whatever GetCACaps says (scep/DIVERGENCES.md). */
  requireSha2: boolean;
  /** An external check of challenge and CSR (Intune/Jamf-style); fail-closed. */
  webhook: { url: string; timeoutMs: number } | null;
}

export const SCEP_DEFAULTS: ScepSettings = {
  challengeHash: null,
  dynamicChallenges: true,
  manualApproval: false,
  renewal: true,
  legacy: false,
  requireSha2: false,
  webhook: null,
};

const KNOWN = new Set(["allowedProfiles", "description", "challenge", "challengeHash", "dynamicChallenges", "manualApproval", "renewal", "legacy", "requireSha2", "webhook"]);
const HASH = /^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$/;
export const MIN_STATIC_CHALLENGE = 16;

/** Hashes a static challenge for storage: salted SHA-256 (a static challenge must be a long random
 * secret; at least 16 characters are required). */
export function hashChallenge(secret: string): string {
  const salt = randomBytes(16).toString("hex");
  return `sha256$${salt}$${createHash("sha256").update(salt).update(secret).digest("hex")}`;
}

export function challengeMatches(stored: string, offered: string): boolean {
  const [, salt, hex] = stored.split("$") as [string, string, string];
  const want = Buffer.from(hex, "hex");
  const got = createHash("sha256").update(salt).update(offered).digest();
  return timingSafeEqual(want, got);
}

/** Normalises options as an operator wrote them: a plain `challenge` becomes `challengeHash`. */
export function normaliseScepOptions(options: Record<string, unknown>): Record<string, unknown> {
  const { challenge, ...rest } = options;
  if (challenge === undefined) return options;
  if (challenge === null) return { ...rest, challengeHash: null };
  if (typeof challenge !== "string" || challenge.length < MIN_STATIC_CHALLENGE || challenge.length > 256) {
    badOption(`options.challenge must be ${MIN_STATIC_CHALLENGE}-256 characters (a long random secret)`, "options.challenge");
  }
  return { ...rest, challengeHash: hashChallenge(challenge) };
}

/** Reads (and validates) a SCEP provisioner's options. */
export function scepSettings(options: Record<string, unknown>): ScepSettings {
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) badOption(`unknown SCEP provisioner option ${JSON.stringify(k)}`, `options.${k}`);
  if (options.challenge !== undefined) badOption("options.challenge is stored hashed; write it through the admin API", "options.challenge");
  const ch = options.challengeHash ?? null;
  if (ch !== null && (typeof ch !== "string" || !HASH.test(ch))) badOption("options.challengeHash is not a stored challenge hash", "options.challengeHash");
  let webhook: ScepSettings["webhook"] = null;
  if (options.webhook !== undefined && options.webhook !== null) {
    const w = options.webhook as Record<string, unknown>;
    if (typeof w !== "object" || Array.isArray(w)) badOption("options.webhook must be an object { url, timeoutMs }", "options.webhook");
    for (const k of Object.keys(w)) if (k !== "url" && k !== "timeoutMs") badOption(`unknown webhook option ${JSON.stringify(k)}`, `options.webhook.${k}`);
    // The webhook sees challenges and CSRs: https, or plain http only to this host.
    if (typeof w.url !== "string" || w.url.length > 2048 || !/^(https:\/\/\S+|http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/\S*)?)$/.test(w.url)) {
      badOption("options.webhook.url must be an https URL (plain http only to 127.0.0.1, localhost or [::1])", "options.webhook.url");
    }
    const t = w.timeoutMs ?? 5000;
    if (typeof t !== "number" || !Number.isInteger(t) || t < 100 || t > 30_000) badOption("options.webhook.timeoutMs must be an integer from 100 to 30000", "options.webhook.timeoutMs");
    webhook = { url: w.url as string, timeoutMs: t as number };
  }
  const s: ScepSettings = {
    challengeHash: ch as string | null,
    dynamicChallenges: boolOption(options.dynamicChallenges, SCEP_DEFAULTS.dynamicChallenges, "options.dynamicChallenges"),
    manualApproval: boolOption(options.manualApproval, SCEP_DEFAULTS.manualApproval, "options.manualApproval"),
    renewal: boolOption(options.renewal, SCEP_DEFAULTS.renewal, "options.renewal"),
    legacy: boolOption(options.legacy, SCEP_DEFAULTS.legacy, "options.legacy"),
    requireSha2: boolOption(options.requireSha2, SCEP_DEFAULTS.requireSha2, "options.requireSha2"),
    webhook,
  };
  if (s.challengeHash === null && !s.dynamicChallenges && !s.webhook && !s.manualApproval) {
    badOption("a SCEP provisioner needs a way to authorise enrolment: a challenge, dynamicChallenges, a webhook or manualApproval", "options");
  }
  return s;
}

/** What a one-time challenge was bound to when it was created. */
export interface ChallengeBinding {
  commonName?: string | undefined;
  /** The names the enrolment may request (a subset is fine); absent: the provisioner's policy decides. */
  dns?: string[] | undefined;
  ip?: string[] | undefined;
  identity?: string | undefined;
  nodeId?: string | undefined;
  roles?: string[] | undefined;
  /** A SPIFFE ID the certificate carries. */
  spiffeId?: string | undefined;
  /** Set when an attestation decision handed the challenge out: the whole decision then applies
   * (names, common name, identity, node, roles, profile, lifetime, expiry), as for EAB keys. */
  attested?: AttestedBinding | undefined;
}

export function validateChallengeBinding(b: Record<string, unknown>): ChallengeBinding {
  const out: ChallengeBinding = {};
  if (b.commonName !== undefined) out.commonName = validateText(b.commonName, "commonName", 64);
  if (b.identity !== undefined) out.identity = validateText(b.identity, "identity", MAX_IDENTITY);
  if (b.nodeId !== undefined) out.nodeId = validateText(b.nodeId, "nodeId", MAX_NODE_ID);
  if (b.roles !== undefined) out.roles = validateRoles(b.roles);
  if (b.spiffeId !== undefined) {
    const v = validateText(b.spiffeId, "spiffeId", MAX_IDENTITY);
    if (!/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(v)) throw new SignetError("bad_request", "spiffeId must be a spiffe:// URI");
    out.spiffeId = v;
  }
  for (const k of ["dns", "ip"] as const) {
    const v = b[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length > 100 || !v.every((x) => typeof x === "string" && x.length > 0 && x.length <= 253)) {
      throw new SignetError("bad_request", `${k} must be a list of at most 100 names`);
    }
    out[k] = k === "dns" ? (v as string[]).map((x) => x.toLowerCase()) : (v as string[]);
  }
  return out;
}

/** The enrolment may hold only what its one-time challenge was bound to, and carries its identity. */
export function challengeBound(binding: ChallengeBinding): SignOption[] {
  if (binding.attested) return attested(binding.attested);
  return [
    {
      kind: "validator",
      name: "scep-challenge-binding",
      validate({ csr }) {
        const cn = csr.subject.commonName;
        if (binding.commonName !== undefined && cn !== binding.commonName) {
          throw new SignetError("forbidden_name", `this challenge is for the common name ${JSON.stringify(binding.commonName)}, not ${JSON.stringify(cn ?? "")}`);
        }
        const extra: string[] = [];
        if (binding.dns !== undefined) extra.push(...csr.sans.dns.filter((d) => !binding.dns!.includes(d.toLowerCase())));
        else if (csr.sans.dns.length > 0 && binding.commonName !== undefined) extra.push(...csr.sans.dns);
        if (binding.ip !== undefined) extra.push(...csr.sans.ip.filter((a) => !binding.ip!.includes(a)));
        else if (csr.sans.ip.length > 0 && binding.commonName !== undefined) extra.push(...csr.sans.ip);
        extra.push(...csr.sans.uri.filter((u) => u !== binding.spiffeId), ...csr.sans.email);
        if (extra.length > 0) throw new SignetError("forbidden_name", `this challenge does not allow ${extra.join(", ")}`, { detail: { names: extra } });
      },
    },
    {
      kind: "modifier",
      name: "scep-challenge-identity",
      modify(draft) {
        if (binding.identity !== undefined) draft.identity = binding.identity;
        if (binding.nodeId !== undefined) draft.nodeId = binding.nodeId;
        if (binding.roles !== undefined) draft.roles = [...binding.roles];
        if (binding.spiffeId !== undefined) draft.spiffeId = binding.spiffeId;
      },
    },
  ];
}

/** A renewal keeps the identity of the certificate it renews: the same common name, no new names,
 * and the same identity, node and roles. */
export function renewalOf(previous: { commonName: string | null; names: Names; identity: string | null; nodeId: string | null; roles: string[] }): SignOption[] {
  return [
    {
      kind: "validator",
      name: "scep-renewal-same-identity",
      validate({ csr }) {
        const cn = csr.subject.commonName ?? null;
        if (cn !== previous.commonName) {
          throw new SignetError("forbidden_name", `a renewal keeps the common name ${JSON.stringify(previous.commonName ?? "")}; the request asks for ${JSON.stringify(cn ?? "")}`);
        }
        const extra = [
          ...csr.sans.dns.filter((d) => !previous.names.dns.includes(d.toLowerCase())),
          ...csr.sans.ip.filter((a) => !previous.names.ip.includes(a)),
          ...csr.sans.uri.filter((u) => !previous.names.uri.includes(u)),
          ...csr.sans.email.filter((e) => !previous.names.email.includes(e)),
        ];
        if (extra.length > 0) throw new SignetError("forbidden_name", `a renewal cannot add names: ${extra.join(", ")}`, { detail: { names: extra } });
      },
    },
    {
      kind: "modifier",
      name: "scep-renewal-identity",
      modify(draft) {
        if (previous.identity !== null) draft.identity = previous.identity;
        draft.nodeId = previous.nodeId;
        draft.roles = [...previous.roles];
      },
    },
  ];
}

/** SCEP front-end requests: the provisioner's profile and default lifetime, within its limits. */
export const scepProvisioner: ProvisionerBehaviour = {
  authorizeSign: () => [provisionerDefaults, profileAllowed, lifetimeWithinProvisioner],
};
