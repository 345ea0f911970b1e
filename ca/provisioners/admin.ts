// The admin provisioner: requests from authenticated administrators (API or CLI). The administrator
// may choose profile, lifetime, roles and identity, within the provisioner's limits and name policy.
import type { ProvisionerBehaviour, SignOption } from "./sign-options.js";
import { assertProfileName } from "../profiles.js";
import { lifetimeWithinProvisioner, MAX_IDENTITY, MAX_NODE_ID, profileAllowed, provisionerDefaults, validateRoles, validateText } from "./common.js";

const adminRequestFields: SignOption = {
  kind: "modifier",
  name: "admin-request-fields",
  modify(draft, { request }) {
    if (request.profile !== undefined) draft.profile = assertProfileName(request.profile);
    if (request.lifetimeSeconds !== undefined) draft.lifetimeSeconds = request.lifetimeSeconds;
    if (request.roles !== undefined) draft.roles = validateRoles(request.roles);
    if (request.identity !== undefined) draft.identity = validateText(request.identity, "identity", MAX_IDENTITY);
    if (request.nodeId !== undefined) draft.nodeId = validateText(request.nodeId, "nodeId", MAX_NODE_ID);
    if (request.spiffeId !== undefined) draft.spiffeId = validateText(request.spiffeId, "spiffeId", MAX_IDENTITY);
  },
};

export const adminProvisioner: ProvisionerBehaviour = {
  authorizeSign: () => [provisionerDefaults, adminRequestFields, profileAllowed, lifetimeWithinProvisioner],
};
