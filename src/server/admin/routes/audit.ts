// /admin/v1/audit — read the hash-chained audit log and verify it.
import type { FastifyInstance } from "fastify";
import type { Services } from "../../../services.js";
import { errorResponses } from "../schemas.js";

const eventSchema = {
  type: "object",
  properties: {
    seq: { type: "string" },
    time: { type: "string", format: "date-time" },
    event: { type: "string" },
    actor: { type: "string" },
    target: { type: ["string", "null"] },
    data: { type: "object", additionalProperties: true },
    prevHash: { type: "string" },
    hash: { type: "string" },
  },
} as const;

export function listAuditEvents(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: { after?: string; limit?: number; event?: string; target?: string } }>(
    "/audit/events",
    {
      schema: {
        summary: "Audit events in order, after a sequence number",
        tags: ["audit"],
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            after: { type: "string", pattern: "^[0-9]{1,18}$" },
            limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
            event: { type: "string" },
            target: { type: "string" },
          },
        },
        response: { 200: { type: "object", properties: { items: { type: "array", items: eventSchema } } }, ...errorResponses },
      },
    },
    async (req) => {
      const q = req.query;
      const events = await s.audit.list({ afterSeq: q.after ? BigInt(q.after) : undefined, limit: q.limit ?? 100, event: q.event, target: q.target });
      return { items: events.map((e) => ({ ...e, seq: e.seq.toString(), time: e.time.toISOString() })) };
    },
  );
}

export function verifyAudit(app: FastifyInstance, s: Services): void {
  app.get(
    "/audit/verify",
    {
      schema: {
        summary: "Verify the whole audit hash chain",
        tags: ["audit"],
        response: {
          200: {
            type: "object",
            properties: {
              ok: { type: "boolean" },
              checked: { type: "integer" },
              problem: { type: "object", properties: { seq: { type: "string" }, reason: { type: "string" } } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () => s.audit.verify(),
  );
}
