// The plain-HTTP port (8080): what relying parties fetch without trust in advance: CA certificates
// (roots, intermediates, the AIA caIssuers URL), CRLs and OCSP; SCEP.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Services } from "../services.js";
import { SignetError } from "../../ca/errors.js";
import { pemDecode, toPem } from "../../ca/x509/index.js";
import { checkIssuedBy } from "../../ca/ca-material.js";
import { caFiles } from "../home/ca-files.js";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AJV_OPTIONS, installCommon } from "./common.js";
import type { RevocationService } from "../revocation/service.js";
import { crlRoutes } from "./revocation/crl.js";
import { ocspRoutes } from "./revocation/ocsp.js";
import { scepPlugin } from "../../scep/index.js";

/** A staged CA rollover: the next intermediate, written by an operator to $SIGNET_HOME/ca/next-intermediate.pem,
 * handed out by SCEP GetNextCACert once it checks out as a CA issued by the root. */
function nextIntermediate(s: Services): Buffer | null {
  const file = join(caFiles(s.config.home).dir, "next-intermediate.pem");
  let mtime: number;
  try {
    mtime = statSync(file).mtimeMs;
  } catch {
    return null;
  }
  if (nextCache?.mtime === mtime) return nextCache.der;
  let der: Buffer | null = null;
  try {
    der = pemDecode(readFileSync(file, "utf8"), ["CERTIFICATE"])[0] ?? null;
    if (der) checkIssuedBy(der, s.authority.root.certDer);
  } catch (err) {
    s.log.warn({ err, file }, "the staged next intermediate is not a CA issued by the root; GetNextCACert ignores it");
    der = null;
  }
  nextCache = { mtime, der };
  return der;
}
let nextCache: { mtime: number; der: Buffer | null } | undefined;

export async function buildHttpApp(s: Services, ready: () => boolean, rev: RevocationService): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: s.log.child({ component: "http" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: s.config.bodyLimit,
    ajv: AJV_OPTIONS,
    return503OnClosing: true,
  });
  installCommon(app, s, "http", ready);
  const { root, intermediate } = s.authority;
  const rootsPem = toPem("CERTIFICATE", root.certDer);
  const intermediatesPem = toPem("CERTIFICATE", intermediate.certDer);
  const byId = new Map([
    [root.id, root.certDer],
    [intermediate.id, intermediate.certDer],
  ]);
  const cache = "public, max-age=3600";
  app.get("/roots.pem", async (_req, reply) => reply.type("application/pem-certificate-chain").header("cache-control", cache).send(rootsPem));
  app.get("/intermediates.pem", async (_req, reply) => reply.type("application/pem-certificate-chain").header("cache-control", cache).send(intermediatesPem));
  // RFC 5280 §4.2.2.1: the caIssuers URL serves a DER certificate as application/pkix-cert.
  app.get<{ Params: { id: string } }>(
    "/certs/:id",
    { schema: { params: { type: "object", properties: { id: { type: "string", pattern: "^[0-9a-f]{2,128}\\.(crt|pem)$" } } } } },
    async (req, reply) => {
      const [id, ext] = req.params.id.split(".") as [string, string];
      const der = byId.get(id);
      if (!der) throw new SignetError("not_found", `no CA certificate ${id}`);
      if (ext === "pem") return reply.type("application/pem-certificate-chain").header("cache-control", cache).send(toPem("CERTIFICATE", der));
      return reply.type("application/pkix-cert").header("cache-control", cache).send(der);
    },
  );
  crlRoutes(app, rev);
  ocspRoutes(app, s, rev);
  // SCEP (RFC 8894), one endpoint per SCEP provisioner.
  await app.register(
    scepPlugin({
      service: s.scep.service,
      nextCa: () => nextIntermediate(s),
      onAnswer: (provisioner, messageType, status) => s.metrics.scepRequests.inc({ provisioner, type: messageType, status }),
    }),
    { prefix: "/scep/:provisioner" },
  );
  return app;
}
