import { SignetError } from "../errors.js";
import type { ProvisionerRecord } from "../ports.js";
import { acmeProvisioner } from "./acme.js";
import { adminProvisioner } from "./admin.js";
import { scepProvisioner } from "./scep.js";
import { attestationProvisioner } from "./attestation.js";
import type { ProvisionerBehaviour } from "./sign-options.js";

export * from "./sign-options.js";
export { validateRoles, validateText, allowedProfiles } from "./common.js";
export { validateProvisioner, type ProvisionerInput } from "./validate.js";
export { attestationSettings, type AttestationSettings, type JwsAlgorithm } from "./attestation.js";
export { scepSettings, normaliseScepOptions, challengeMatches, challengeBound, renewalOf, validateChallengeBinding, type ScepSettings, type ChallengeBinding } from "./scep.js";
export { acmeSettings, acmeProfiles, csrMatchesOrder, ACME_CHALLENGE_TYPES, type AcmeSettings } from "./acme.js";

/** The behaviour behind a provisioner record. Front-end types register theirs as they arrive. */
const behaviours = new Map<string, ProvisionerBehaviour>([
  ["admin", adminProvisioner],
  ["acme", acmeProvisioner],
  ["scep", scepProvisioner],
  ["attestation", attestationProvisioner],
]);

export function registerProvisionerBehaviour(type: ProvisionerRecord["type"], behaviour: ProvisionerBehaviour): void {
  behaviours.set(type, behaviour);
}

export function behaviourFor(p: ProvisionerRecord): ProvisionerBehaviour {
  const b = behaviours.get(p.type);
  if (!b) {
    throw new SignetError("forbidden", `provisioner ${p.name} is of type ${p.type}, which issues only through its own front end`);
  }
  return b;
}
