// POST /admin/v1/revocations — revoke everything a node, identity or ACME account holds and block it
// from enrolling until unblocked. One transaction: all of it or none.
import type { FastifyInstance } from "fastify";
import type { BlockTarget } from "../../../../ca/ports.js";
import { SignetError } from "../../../../ca/errors.js";
import { reasonName } from "../../../../ca/revocation.js";
import type { Services } from "../../../services.js";
import { blockJson, blockSchema, certificateJson, certificateSchema, errorResponses, revocationBodySchema, type RevocationBody } from "../schemas.js";

interface Body extends RevocationBody {
  node?: string;
  identity?: string;
  account?: string;
  note?: string;
}

export function revokeBulk(app: FastifyInstance, s: Services): void {
  app.post<{ Body: Body }>(
    "/revocations",
    {
      schema: {
        summary: "Revoke every unexpired certificate of a node, identity or ACME account, and block it",
        tags: ["revocation"],
        body: {
          type: "object",
          additionalProperties: false,
          properties: {
            node: { type: "string", minLength: 1, maxLength: 1024 },
            identity: { type: "string", minLength: 1, maxLength: 1024, description: "matches the recorded identity or the SPIFFE ID" },
            account: { type: "string", minLength: 1, maxLength: 1024 },
            note: { type: "string", maxLength: 512, description: "why; kept with the block" },
            ...revocationBodySchema,
          },
        },
        response: {
          200: { type: "object", properties: { block: blockSchema, revoked: { type: "array", items: certificateSchema }, count: { type: "integer" } } },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const b = req.body;
      const targets = (["node", "identity", "account"] as const).filter((k) => b[k] !== undefined);
      if (targets.length !== 1) throw new SignetError("bad_request", "name exactly one of node, identity or account");
      const kind = targets[0]!;
      const target: BlockTarget = { kind, value: b[kind]! };
      const result = await s.authority.revokeAndBlock(target, req.admin!.actor, { reason: b.reason, invalidityDate: b.invalidityDate, ...(b.note !== undefined ? { note: b.note } : {}) });
      for (const c of result.revoked) s.metrics.revoked.inc({ reason: reasonName(c.revocationReason ?? 0) });
      return { block: blockJson(result.block), revoked: result.revoked.map((c) => certificateJson(c)), count: result.revoked.length };
    },
  );
}
