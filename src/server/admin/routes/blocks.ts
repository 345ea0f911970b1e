// GET /admin/v1/blocks — nodes, identities and accounts that may not enrol.
// DELETE /admin/v1/blocks/{kind}?value=V — lift a block (signet unblock). The value is a query
// parameter because identities are URIs with slashes.
import type { FastifyInstance } from "fastify";
import { BLOCK_KINDS, type BlockKind } from "../../../../ca/ports.js";
import type { Services } from "../../../services.js";
import { blockJson, blockSchema, errorResponses } from "../schemas.js";

export function listBlocks(app: FastifyInstance, s: Services): void {
  app.get(
    "/blocks",
    { schema: { summary: "List enrolment blocks", tags: ["revocation"], response: { 200: { type: "object", properties: { items: { type: "array", items: blockSchema } } }, ...errorResponses } } },
    async () => ({ items: (await s.journal.blocks()).map(blockJson) }),
  );
}

export function deleteBlock(app: FastifyInstance, s: Services): void {
  app.delete<{ Params: { kind: BlockKind }; Querystring: { value: string } }>(
    "/blocks/:kind",
    {
      schema: {
        summary: "Lift an enrolment block",
        tags: ["revocation"],
        params: { type: "object", properties: { kind: { type: "string", enum: [...BLOCK_KINDS] } } },
        querystring: { type: "object", required: ["value"], additionalProperties: false, properties: { value: { type: "string", minLength: 1, maxLength: 1024 } } },
        response: { 200: blockSchema, ...errorResponses },
      },
    },
    async (req) => blockJson(await s.authority.unblock({ kind: req.params.kind, value: req.query.value }, req.admin!.actor)),
  );
}
