// /admin/v1/provisioners — list, get, PUT by name (idempotent: Terraform's REST providers and
// Ansible's uri module converge on it), delete.
import type { FastifyInstance } from "fastify";
import { SignetError } from "../../../../ca/errors.js";
import { validateProvisioner } from "../../../../ca/provisioners/index.js";
import { validateProvisionerName } from "../../../../ca/provisioners/validate.js";
import type { Services } from "../../../services.js";
import { assertKeepsOwnCertificate, SYSTEM_PROVISIONER } from "../../tls.js";
import { errorResponses, nameParams, provisionerBodySchema, provisionerJson, provisionerSchema } from "../schemas.js";

export function listProvisioners(app: FastifyInstance, s: Services): void {
  app.get(
    "/provisioners",
    {
      schema: {
        summary: "List provisioners",
        tags: ["provisioners"],
        response: { 200: { type: "object", properties: { items: { type: "array", items: provisionerSchema } } }, ...errorResponses },
      },
    },
    async () => ({ items: (await s.provisioners.list()).map(provisionerJson) }),
  );
}

export function getProvisioner(app: FastifyInstance, s: Services): void {
  app.get<{ Params: { name: string } }>(
    "/provisioners/:name",
    { schema: { summary: "Get a provisioner", tags: ["provisioners"], params: nameParams, response: { 200: provisionerSchema, ...errorResponses } } },
    async (req) => {
      const p = await s.provisioners.get(validateProvisionerName(req.params.name));
      if (!p) throw new SignetError("unknown_provisioner", `no provisioner named ${req.params.name}`);
      return provisionerJson(p);
    },
  );
}

export function putProvisioner(app: FastifyInstance, s: Services): void {
  app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
    "/provisioners/:name",
    {
      schema: {
        summary: "Create or replace a provisioner (idempotent)",
        description: "201 when created, 200 when replaced or unchanged. Fields left out take their defaults.",
        tags: ["provisioners"],
        params: nameParams,
        body: provisionerBodySchema,
        response: { 200: provisionerSchema, 201: provisionerSchema, ...errorResponses },
      },
    },
    async (req, reply) => {
      const cfg = s.config;
      const input = validateProvisioner(
        { ...req.body, name: req.params.name },
        { minSeconds: cfg.minLifetimeSeconds, maxSeconds: cfg.maxLifetimeSeconds, defaultSeconds: cfg.defaultLifetimeSeconds },
      );
      if (input.name === SYSTEM_PROVISIONER) {
        if (!input.enabled) throw new SignetError("conflict", `${SYSTEM_PROVISIONER} issues Signet's own certificates and cannot be disabled`);
        assertKeepsOwnCertificate(input.policy, `provisioner ${input.name}`, cfg.publicHost);
      }
      const r = await s.provisioners.upsert(input, req.admin!.actor);
      return reply.status(r.created ? 201 : 200).send(provisionerJson(r.provisioner));
    },
  );
}

export function deleteProvisioner(app: FastifyInstance, s: Services): void {
  app.delete<{ Params: { name: string } }>(
    "/provisioners/:name",
    { schema: { summary: "Delete a provisioner", tags: ["provisioners"], params: nameParams, response: { 204: { type: "null" }, ...errorResponses } } },
    async (req, reply) => {
      const name = validateProvisionerName(req.params.name);
      if (name === SYSTEM_PROVISIONER) throw new SignetError("conflict", `${SYSTEM_PROVISIONER} issues Signet's own certificates and cannot be deleted`);
      const gone = await s.provisioners.delete(name, req.admin!.actor);
      if (!gone) throw new SignetError("unknown_provisioner", `no provisioner named ${req.params.name}`);
      return reply.status(204).send();
    },
  );
}
