// The admin provisioner: requests from authenticated administrators (API or CLI). The administrator
// may choose profile, lifetime, roles and identity, within the provisioner's limits and name policy.
import type { ProvisionerBehaviour, SignOption } from "./sign-options.js";
import { lifetimeWithinProvisioner, profileAllowed, provisionerDefaults, validateRoles } from "./common.js";

const adminRequestFields: SignOption = {
  kind: "modifier",
  name: "admin-request-fields",
  modify(draft, { request }) {
    if (request.profile !== undefined) draft.profile = request.profile;
    if (request.lifetimeSeconds !== undefined) draft.lifetimeSeconds = request.lifetimeSeconds;
    if (request.roles !== undefined) draft.roles = validateRoles(request.roles);
    if (request.identity !== undefined) draft.identity = request.identity;
    if (request.nodeId !== undefined) draft.nodeId = request.nodeId;
    if (request.spiffeId !== undefined) draft.spiffeId = request.spiffeId;
  },
};

export const adminProvisioner: ProvisionerBehaviour = {
  authorizeSign: () => [provisionerDefaults, adminRequestFields, profileAllowed, lifetimeWithinProvisioner],
};
