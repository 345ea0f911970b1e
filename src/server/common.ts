// What both ports share: health, readiness, metrics, request metrics, strict JSON parsing.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { SignetError } from "../../ca/errors.js";
import { findUnstorable } from "../../ca/text.js";
import type { Services } from "../services.js";
import { installErrorHandler } from "./errors.js";

export const AJV_OPTIONS = {
  customOptions: {
    // Unknown fields are an error the client should see, not something to drop silently.
    removeAdditional: false as const,
    coerceTypes: "array" as const,
    useDefaults: true,
    allErrors: false,
    allowUnionTypes: true,
  },
};

export function installCommon(app: FastifyInstance, s: Services, port: "https" | "http", ready: () => boolean): void {
  installErrorHandler(app);
  app.addHook("onResponse", async (req, reply) => {
    s.metrics.http.observe(
      { port, method: req.method, route: req.routeOptions.url ?? "unmatched", status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  const health = { schema: { hide: true } };
  app.get("/healthz", health, async () => ({ status: "ok" }));
  app.get("/readyz", health, async (_req, reply) => {
    if (!ready()) return reply.status(503).send({ status: "starting" });
    try {
      await s.db.raw.query("SELECT 1");
    } catch {
      return reply.status(503).send({ status: "database unavailable" });
    }
    return { status: "ready" };
  });
  app.get("/metrics", health, async (_req, reply) => {
    return reply.type(s.metrics.registry.contentType).send(await s.metrics.registry.metrics());
  });
}

export async function rejectUnstorableText(req: FastifyRequest): Promise<void> {
  const where = findUnstorable(req.body, "body") ?? findUnstorable(req.query, "query") ?? findUnstorable(req.params, "params");
  if (where) throw new SignetError("bad_request", `${where} contains a NUL character or an unpaired surrogate`, { detail: { path: where } });
}
