// Sign options every provisioner type shares.
import { SignetError } from "../errors.js";
import { isProfileName, type ProfileName } from "../profiles.js";
import type { SignOption } from "./sign-options.js";

const ROLE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/;
// C0/C1 controls and DEL have no place in a name, and a UTF-16 surrogate left over once valid pairs
// are removed is unpaired: PostgreSQL refuses it, as it refuses NUL.
const CONTROL_OR_SURROGATE = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/;
const SURROGATE_PAIR = /[\ud800-\udbff][\udc00-\udfff]/g;

/** A free-text identifier (identity, node id, common name): 1..max characters, nothing unstorable. */
export function validateText(value: unknown, field: string, max: number): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max) {
    throw new SignetError("bad_request", `${field} must be 1-${max} characters`, { detail: { field } });
  }
  if (CONTROL_OR_SURROGATE.test(value.replace(SURROGATE_PAIR, ""))) {
    throw new SignetError("bad_request", `${field} contains control characters or an unpaired surrogate`, { detail: { field } });
  }
  return value;
}
export const MAX_ROLES = 32;
export const MAX_IDENTITY = 2048;
export const MAX_NODE_ID = 256;
/** RFC 5280 ub-common-name. */
export const MAX_COMMON_NAME = 64;

export function validateRoles(roles: unknown): string[] {
  if (!Array.isArray(roles)) throw new SignetError("bad_request", "roles must be an array of strings");
  if (roles.length > MAX_ROLES) throw new SignetError("bad_request", `at most ${MAX_ROLES} roles`);
  for (const r of roles) {
    if (typeof r !== "string" || !ROLE.test(r)) {
      throw new SignetError("bad_request", `invalid role ${JSON.stringify(r)}: 1-128 characters of A-Z a-z 0-9 . _ : / @ -, starting with a letter or digit`);
    }
  }
  return [...new Set(roles as string[])];
}

/** The profiles a provisioner may issue: its own profile plus `options.allowedProfiles`. */
export function allowedProfiles(profile: ProfileName, options: Record<string, unknown>): ProfileName[] {
  const extra = Array.isArray(options.allowedProfiles) ? (options.allowedProfiles as ProfileName[]) : [];
  return [...new Set([profile, ...extra])];
}

/** Provisioner defaults: profile and lifetime. */
export const provisionerDefaults: SignOption = {
  kind: "modifier",
  name: "provisioner-defaults",
  modify(draft, { provisioner }) {
    draft.profile = provisioner.profile;
    draft.lifetimeSeconds = provisioner.defaultLifetimeSeconds;
  },
};

/** The requested profile must be one the provisioner allows. */
export const profileAllowed: SignOption = {
  kind: "enforcer",
  name: "profile-allowed",
  enforce(draft, { provisioner, request }) {
    // A TPM attestation key's certificate exists only for a key credential activation proved, and
    // such a key gets nothing else: neither can be asked for with a CSR.
    const tpmAk = request.provenKey?.proof === "tpm2-credential-activation";
    if (tpmAk !== (draft.profile === "tpm-ak")) {
      throw new SignetError("forbidden_profile", tpmAk ? "a key proven by TPM credential activation gets only the tpm-ak profile" : "the tpm-ak profile is issued only after TPM credential activation");
    }
    if (tpmAk && provisioner.type === "attestation") return;
    const allowed = allowedProfiles(provisioner.profile, provisioner.options);
    if (!allowed.includes(draft.profile)) {
      throw new SignetError("forbidden_profile", `provisioner ${provisioner.name} may not issue the ${draft.profile} profile (allowed: ${allowed.join(", ")})`);
    }
    if (!isProfileName(draft.profile)) {
      throw new SignetError("forbidden_profile", `unknown profile ${draft.profile}`);
    }
  },
};

/** The lifetime must not exceed the provisioner's maximum. */
export const lifetimeWithinProvisioner: SignOption = {
  kind: "enforcer",
  name: "lifetime-within-provisioner",
  enforce(draft, { provisioner }) {
    if (draft.lifetimeSeconds > provisioner.maxLifetimeSeconds) {
      throw new SignetError(
        "bad_lifetime",
        `requested lifetime ${draft.lifetimeSeconds}s exceeds provisioner ${provisioner.name}'s maximum of ${provisioner.maxLifetimeSeconds}s`,
        { detail: { requested: draft.lifetimeSeconds, max: provisioner.maxLifetimeSeconds } },
      );
    }
  },
};

// Readers for provisioner options as operators write them: every refusal is bad_provisioner with
// the option's path.

export function badOption(message: string, path: string): never {
  throw new SignetError("bad_provisioner", message, { detail: { path } });
}

export function boolOption(v: unknown, def: boolean, path: string): boolean {
  if (v === undefined) return def;
  if (typeof v !== "boolean") badOption(`${path} must be true or false`, path);
  return v as boolean;
}

export function intOption(v: unknown, def: number, min: number, max: number, path: string): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) badOption(`${path} must be an integer from ${min} to ${max}`, path);
  return v as number;
}
