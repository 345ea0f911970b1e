// Validation of provisioner definitions written through the admin API / CLI / Terraform.
import { validateNamePolicy } from "../policy/index.js";
import type { ProvisionerRecord, ProvisionerType } from "../ports.js";
import { isProfileName, PROFILE_NAMES } from "../profiles.js";
import { acmeSettings } from "./acme.js";
import { badOption } from "./common.js";
import { normaliseScepOptions, scepSettings } from "./scep.js";
import { attestationSettings } from "./attestation.js";

export const PROVISIONER_TYPES: readonly ProvisionerType[] = ["admin", "acme", "scep", "attestation"];
/** Profiles only Signet's own machinery issues, never a front end's default. */
const SYSTEM_ONLY: ReadonlySet<string> = new Set(["intermediate", "ocsp-responder", "scep-ra", "tpm-ak"]);
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A provisioner as written: the record without what storage assigns. */
export type ProvisionerInput = Omit<ProvisionerRecord, "id" | "version" | "createdAt" | "updatedAt">;

export interface LifetimeLimits {
  /** The floor every certificate lifetime respects (5 minutes). */
  minSeconds: number;
  /** The authority-wide cap. */
  maxSeconds: number;
  /** The default lifetime when a definition gives none (SIGNET_DEFAULT_LIFETIME). */
  defaultSeconds: number;
}

export function isProvisionerName(name: unknown): name is string {
  return typeof name === "string" && NAME.test(name);
}

export function validateProvisionerName(name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    badOption(`provisioner name ${JSON.stringify(name)} must be 1-63 lowercase letters, digits and inner hyphens`, "name");
  }
  return name;
}

export function validateProvisioner(input: Record<string, unknown>, limits: LifetimeLimits): ProvisionerInput {
  const name = validateProvisionerName(input.name);
  const type = input.type;
  if (typeof type !== "string" || !(PROVISIONER_TYPES as readonly string[]).includes(type)) {
    badOption(`type must be one of ${PROVISIONER_TYPES.join(", ")}`, "type");
  }
  // ACME clients mostly enrol services, which also call others: both usages unless told otherwise.
  const profile = input.profile ?? (type === "acme" ? "client-server" : "client");
  if (!isProfileName(profile)) badOption(`profile must be one of ${PROFILE_NAMES.join(", ")}`, "profile");
  const defaultLifetimeSeconds = input.defaultLifetimeSeconds ?? limits.defaultSeconds;
  const maxLifetimeSeconds = input.maxLifetimeSeconds ?? Math.max(limits.maxSeconds, 0);
  for (const [key, v] of [["defaultLifetimeSeconds", defaultLifetimeSeconds], ["maxLifetimeSeconds", maxLifetimeSeconds]] as const) {
    if (typeof v !== "number" || !Number.isInteger(v)) badOption(`${key} must be an integer number of seconds`, key);
    if (v < limits.minSeconds) badOption(`${key} must be at least ${limits.minSeconds}s (the authority's floor)`, key);
    if (v > limits.maxSeconds) badOption(`${key} must be at most ${limits.maxSeconds}s (the authority's cap)`, key);
  }
  if ((defaultLifetimeSeconds as number) > (maxLifetimeSeconds as number)) {
    badOption("defaultLifetimeSeconds must not exceed maxLifetimeSeconds", "defaultLifetimeSeconds");
  }
  const policy = validateNamePolicy(input.policy ?? {});
  const options = input.options ?? {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) badOption("options must be an object", "options");
  let opts = options as Record<string, unknown>;
  if (opts.allowedProfiles !== undefined) {
    if (!Array.isArray(opts.allowedProfiles) || !opts.allowedProfiles.every(isProfileName)) {
      badOption(`options.allowedProfiles must be a list of ${PROFILE_NAMES.join(", ")}`, "options.allowedProfiles");
    }
  }
  if (type === "acme") {
    if (SYSTEM_ONLY.has(profile)) badOption(`an ACME provisioner cannot issue the ${profile} profile`, "profile");
    acmeSettings(opts);
  }
  if (type === "attestation") {
    if (SYSTEM_ONLY.has(profile)) badOption(`an attestation provisioner cannot issue the ${profile} profile`, "profile");
    attestationSettings(opts, { trustDomain: "signet.internal", policyFile: "policies/attestation.cedar" });
  }
  if (type === "scep") {
    if (SYSTEM_ONLY.has(profile)) badOption(`a SCEP provisioner cannot issue the ${profile} profile`, "profile");
    opts = normaliseScepOptions(opts);
    scepSettings(opts);
  }
  const enabled = input.enabled ?? true;
  if (typeof enabled !== "boolean") badOption("enabled must be a boolean", "enabled");
  return {
    name,
    type: type as ProvisionerType,
    profile,
    defaultLifetimeSeconds: defaultLifetimeSeconds as number,
    maxLifetimeSeconds: maxLifetimeSeconds as number,
    policy,
    options: opts,
    enabled,
  };
}
