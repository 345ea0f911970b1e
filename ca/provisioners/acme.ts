// The ACME provisioner type: what an ACME provisioner's options mean, how they are validated when an
// operator writes them, and the sign options an order adds to the pipeline (the CSR names exactly the
// order's identifiers; lifetime and profile come from the order).
import { SignetError } from "../errors.js";
import type { ProvisionerRecord } from "../ports.js";
import { isProfileName, type ProfileName } from "../profiles.js";
import { allowedProfiles, badOption, boolOption, intOption, lifetimeWithinProvisioner, profileAllowed, provisionerDefaults } from "./common.js";
import type { ProvisionerBehaviour, SignOption } from "./sign-options.js";

export const ACME_CHALLENGE_TYPES = ["http-01", "dns-01", "tls-alpn-01"] as const;
/** Every challenge type an ACME provisioner may offer: the defaults above and device-attest-01
 * (draft-ietf-acme-device-attest), offered only where a provisioner names its attestation policy. */
export const ACME_ALL_CHALLENGE_TYPES = [...ACME_CHALLENGE_TYPES, "device-attest-01"] as const;

/** An ACME provisioner's options, with defaults applied. */
export interface AcmeSettings {
  /** newAccount must carry External Account Binding (§7.3.4). */
  requireEab: boolean;
  /** EAB keys created for this provisioner may bind one account only, unless created reusable. */
  eabSingleUse: boolean;
  /** Challenge types offered. */
  challenges: (typeof ACME_ALL_CHALLENGE_TYPES)[number][];
  /** device-attest-01: permanent-identifier orders, decided by this attestation provisioner's
   * posture policy and its TPM settings (EK roots). Null: no device attestation. */
  deviceAttest: { attestationProvisioner: string } | null;
  /** "*.example.com" identifiers (validated by dns-01 only). */
  wildcards: boolean;
  /** RFC 8738 IP identifiers. */
  ipIdentifiers: boolean;
  /** Directory meta. */
  website: string | null;
  termsOfService: string | null;
  /** How long a new order and its authorizations stay usable. */
  orderLifetimeSeconds: number;
  rateLimits: {
    /** New orders per account per window. */
    orders: number;
    /** Failed validations (invalid authorizations) per account per window. */
    failedValidations: number;
    windowSeconds: number;
  };
}

export const ACME_DEFAULTS: AcmeSettings = {
  requireEab: false,
  eabSingleUse: true,
  challenges: [...ACME_CHALLENGE_TYPES],
  deviceAttest: null,
  wildcards: false,
  ipIdentifiers: true,
  website: null,
  termsOfService: null,
  orderLifetimeSeconds: 4 * 3600,
  rateLimits: { orders: 300, failedValidations: 30, windowSeconds: 3600 },
};

const KNOWN = new Set(["allowedProfiles", "description", "requireEab", "eabSingleUse", "challenges", "deviceAttest", "wildcards", "ipIdentifiers", "website", "termsOfService", "orderLifetimeSeconds", "rateLimits"]);

function url(v: unknown, path: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || !/^https?:\/\/\S+$/.test(v) || v.length > 2048) badOption(`${path} must be an http(s) URL`, path);
  return v as string;
}

/** Reads (and validates) an ACME provisioner's options. */
export function acmeSettings(options: Record<string, unknown>): AcmeSettings {
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) badOption(`unknown ACME provisioner option ${JSON.stringify(k)}`, `options.${k}`);
  const challenges = options.challenges ?? ACME_DEFAULTS.challenges;
  if (!Array.isArray(challenges) || challenges.length === 0 || !challenges.every((c) => (ACME_ALL_CHALLENGE_TYPES as readonly string[]).includes(c))) {
    badOption(`options.challenges must be a non-empty list of ${ACME_ALL_CHALLENGE_TYPES.join(", ")}`, "options.challenges");
  }
  let deviceAttest: AcmeSettings["deviceAttest"] = null;
  if (options.deviceAttest !== undefined && options.deviceAttest !== null) {
    const d = options.deviceAttest as Record<string, unknown>;
    if (typeof d !== "object" || Array.isArray(d) || typeof d.attestationProvisioner !== "string" || !/^[a-z0-9-]{1,63}$/.test(d.attestationProvisioner) || Object.keys(d).length !== 1) {
      badOption("options.deviceAttest must be { attestationProvisioner: NAME }", "options.deviceAttest");
    }
    deviceAttest = { attestationProvisioner: d.attestationProvisioner as string };
  }
  if ((deviceAttest !== null) !== (challenges as string[]).includes("device-attest-01")) {
    badOption("device-attest-01 among options.challenges and options.deviceAttest go together", "options.deviceAttest");
  }
  const wildcards = boolOption(options.wildcards, ACME_DEFAULTS.wildcards, "options.wildcards");
  if (wildcards && !(challenges as string[]).includes("dns-01")) badOption("options.wildcards needs dns-01 among options.challenges", "options.wildcards");
  const rl = options.rateLimits ?? {};
  if (typeof rl !== "object" || rl === null || Array.isArray(rl)) badOption("options.rateLimits must be an object", "options.rateLimits");
  const r = rl as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!["orders", "failedValidations", "windowSeconds"].includes(k)) badOption(`unknown rate limit ${JSON.stringify(k)}`, `options.rateLimits.${k}`);
  return {
    requireEab: boolOption(options.requireEab, ACME_DEFAULTS.requireEab, "options.requireEab"),
    eabSingleUse: boolOption(options.eabSingleUse, ACME_DEFAULTS.eabSingleUse, "options.eabSingleUse"),
    challenges: [...new Set(challenges as AcmeSettings["challenges"])],
    deviceAttest,
    wildcards,
    ipIdentifiers: boolOption(options.ipIdentifiers, ACME_DEFAULTS.ipIdentifiers, "options.ipIdentifiers"),
    website: url(options.website, "options.website"),
    termsOfService: url(options.termsOfService, "options.termsOfService"),
    orderLifetimeSeconds: intOption(options.orderLifetimeSeconds, ACME_DEFAULTS.orderLifetimeSeconds, 60, 30 * 86400, "options.orderLifetimeSeconds"),
    rateLimits: {
      orders: intOption(r.orders, ACME_DEFAULTS.rateLimits.orders, 1, 1_000_000, "options.rateLimits.orders"),
      failedValidations: intOption(r.failedValidations, ACME_DEFAULTS.rateLimits.failedValidations, 1, 1_000_000, "options.rateLimits.failedValidations"),
      windowSeconds: intOption(r.windowSeconds, ACME_DEFAULTS.rateLimits.windowSeconds, 1, 7 * 86400, "options.rateLimits.windowSeconds"),
    },
  };
}

/** Profiles an ACME client may ask for by name (draft-ietf-acme-profiles): never CA or responder certificates. */
export function acmeProfiles(p: Pick<ProvisionerRecord, "profile" | "options">): ProfileName[] {
  return allowedProfiles(p.profile, p.options).filter((n) => n !== "intermediate" && n !== "ocsp-responder" && n !== "scep-ra" && n !== "tpm-ak");
}

export interface OrderIdentifiers {
  dns: string[];
  ip: string[];
}

/** The CSR must ask for exactly the order's identifiers (§7.4): no more, no fewer, and a subject CN,
 * if any, must be one of them. */
export function csrMatchesOrder(ids: OrderIdentifiers): SignOption {
  return {
    kind: "validator",
    name: "acme-csr-matches-order",
    validate({ csr }) {
      const dns = new Set(csr.sans.dns.map((d) => d.toLowerCase()));
      const ip = new Set(csr.sans.ip);
      const wantDns = new Set(ids.dns);
      const wantIp = new Set(ids.ip);
      const extra = [...[...dns].filter((d) => !wantDns.has(d)), ...[...ip].filter((a) => !wantIp.has(a)), ...csr.sans.uri, ...csr.sans.email];
      const missing = [...[...wantDns].filter((d) => !dns.has(d)), ...[...wantIp].filter((a) => !ip.has(a))];
      const cn = csr.subject.commonName;
      const cnOk = cn === undefined || wantDns.has(cn.toLowerCase()) || wantIp.has(cn);
      if (extra.length > 0 || missing.length > 0 || !cnOk) {
        const parts = [
          extra.length > 0 ? `names not in the order: ${extra.join(", ")}` : "",
          missing.length > 0 ? `order identifiers missing from the CSR: ${missing.join(", ")}` : "",
          cnOk ? "" : `the subject common name ${JSON.stringify(cn)} is not one of the order's identifiers`,
        ].filter(Boolean);
        throw new SignetError("bad_csr", `the CSR must name exactly the order's identifiers (${parts.join("; ")})`, { detail: { extra, missing } });
      }
    },
  };
}

const acmeRequestFields: SignOption = {
  kind: "modifier",
  name: "acme-request-fields",
  modify(draft, { request }) {
    if (request.profile !== undefined) {
      if (!isProfileName(request.profile)) throw new SignetError("forbidden_profile", `unknown profile ${JSON.stringify(request.profile)}`);
      draft.profile = request.profile;
    }
    if (request.lifetimeSeconds !== undefined) draft.lifetimeSeconds = request.lifetimeSeconds;
  },
};

/** ACME front-end requests: the account proved control of the names; the order fixes profile and lifetime. */
export const acmeProvisioner: ProvisionerBehaviour = {
  authorizeSign: () => [provisionerDefaults, acmeRequestFields, profileAllowed, lifetimeWithinProvisioner],
};
