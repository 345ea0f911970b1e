// What both ports share: health, readiness, metrics, request metrics, strict JSON parsing.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { SignetError } from "../../ca/errors.js";
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

// PostgreSQL stores neither NUL nor unpaired UTF-16 surrogates in text or JSON; a client that sends
// them gets a 400 here instead of a database error deep in a handler.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function findUnstorable(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === "string") return UNSTORABLE.test(value) ? path : null;
  if (depth > 32 || value === null || typeof value !== "object") return null;
  for (const [k, v] of Object.entries(value)) {
    if (UNSTORABLE.test(k)) return `${path}.${k.replace(UNSTORABLE, "?")}`;
    const found = findUnstorable(v, `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return null;
}

export async function rejectUnstorableText(req: FastifyRequest): Promise<void> {
  const where = findUnstorable(req.body, "body") ?? findUnstorable(req.query, "query") ?? findUnstorable(req.params, "params");
  if (where) throw new SignetError("bad_request", `${where} contains a NUL character or an unpaired surrogate`, { detail: { path: where } });
}
