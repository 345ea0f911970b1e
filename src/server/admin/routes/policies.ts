// Name policies: the authority-wide one (/admin/v1/policy) and each provisioner's
// (/admin/v1/provisioners/{name}/policy). Deny wins; see README "Name policy".
import type { FastifyInstance } from "fastify";
import { SignetError } from "../../../../ca/errors.js";
import { validateNamePolicy, type NamePolicy } from "../../../../ca/policy/index.js";
import { validateProvisionerName } from "../../../../ca/provisioners/validate.js";
import type { Services } from "../../../services.js";
import { assertKeepsOwnCertificate, SYSTEM_PROVISIONER } from "../../tls.js";
import { errorResponses, nameParams, namePolicySchema } from "../schemas.js";

const policyResponse = { type: "object", properties: { policy: namePolicySchema, version: { type: "integer" } } } as const;

export function getAuthorityPolicy(app: FastifyInstance, s: Services): void {
  app.get(
    "/policy",
    { schema: { summary: "The authority-wide name policy", tags: ["policy"], response: { 200: policyResponse, ...errorResponses } } },
    async () => s.policy.current(),
  );
}

export function putAuthorityPolicy(app: FastifyInstance, s: Services): void {
  app.put<{ Body: NamePolicy }>(
    "/policy",
    { schema: { summary: "Replace the authority-wide name policy", tags: ["policy"], body: namePolicySchema, response: { 200: policyResponse, ...errorResponses } } },
    async (req) => {
      const policy = validateNamePolicy(req.body);
      assertKeepsOwnCertificate(policy, "authority", s.config.publicHost);
      return s.policy.put(policy, req.admin!.actor);
    },
  );
}

export function getProvisionerPolicy(app: FastifyInstance, s: Services): void {
  app.get<{ Params: { name: string } }>(
    "/provisioners/:name/policy",
    { schema: { summary: "A provisioner's name policy", tags: ["policy"], params: nameParams, response: { 200: policyResponse, ...errorResponses } } },
    async (req) => {
      const p = await s.provisioners.get(validateProvisionerName(req.params.name));
      if (!p) throw new SignetError("unknown_provisioner", `no provisioner named ${req.params.name}`);
      return { policy: p.policy, version: p.version };
    },
  );
}

export function putProvisionerPolicy(app: FastifyInstance, s: Services): void {
  app.put<{ Params: { name: string }; Body: NamePolicy }>(
    "/provisioners/:name/policy",
    {
      schema: { summary: "Replace a provisioner's name policy", tags: ["policy"], params: nameParams, body: namePolicySchema, response: { 200: policyResponse, ...errorResponses } },
    },
    async (req) => {
      const name = validateProvisionerName(req.params.name);
      const policy = validateNamePolicy(req.body);
      if (name === SYSTEM_PROVISIONER) assertKeepsOwnCertificate(policy, `provisioner ${name}`, s.config.publicHost);
      const r = await s.provisioners.updatePolicy(name, policy, req.admin!.actor);
      return { policy: r.policy, version: r.version };
    },
  );
}
