// The SCEP front end (RFC 8894): a fastify plugin mounted at /scep/:provisioner on the plain-HTTP
// port, also answering at /scep/:provisioner/pkiclient.exe, the path many clients hard-code.
// Operations: GetCACaps, GetCACert, GetNextCACert, PKIOperation (GET with a base64 message, POST
// with the binary one). A request that can be addressed gets a CertRep (FAILURE with a failInfo when
// refused); one that cannot (not CMS, no transactionID) gets a 400 with the reason in plain text.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isSignetError, SignetError } from "../ca/errors.js";
import type { ProvisionerRecord } from "../ca/ports.js";
import { isProvisionerName } from "../ca/provisioners/validate.js";
import { buildSignedData, degenerate } from "./cms.js";
import { parsePkiMessage, ScepFailure } from "./message.js";
import type { ScepService, Answer } from "./service.js";

export { ScepService, type RaCredential, type RaSource, type ScepDeps, type WebhookDecision } from "./service.js";
export type { ScepStore, ScepTransactionRecord, ChallengeRecord, TransactionStatus } from "./ports.js";

const PKI_MESSAGE = "application/x-pki-message";
const SERVER_SIDE = new Set(["storage_failed", "signing_failed", "internal", "database_locked", "unreachable", "ca_not_initialized"]);
/** Largest PKIOperation accepted (a CSR with a 8192-bit key and its envelope fit comfortably). */
const MAX_MESSAGE = 64 * 1024;

export interface ScepPluginOptions {
  service: ScepService;
  /** The next intermediate, when an operator has staged a CA rollover (GetNextCACert). */
  nextCa?: () => Buffer | null;
  /** Called with every answered PKIOperation, for metrics. */
  onAnswer?: (provisioner: string, messageType: string, status: string) => void;
}

declare module "fastify" {
  interface FastifyRequest {
    scepProvisioner: ProvisionerRecord;
  }
}

export function scepPlugin(opts: ScepPluginOptions) {
  const { service } = opts;
  const { ra, authority, provisioners } = service.deps;
  return async function scep(app: FastifyInstance): Promise<void> {
    app.decorateRequest("scepProvisioner", null as never);
    app.addHook("onRoute", (route) => {
      route.schema = { ...route.schema, hide: true };
    });
    // PKIOperation bodies are binary, whatever content type the client claims.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: MAX_MESSAGE }, (_req, body, done) => done(null, body));

    app.addHook("onRequest", async (req) => {
      const name = (req.params as { provisioner?: string }).provisioner ?? "";
      const p = isProvisionerName(name) ? await provisioners.get(name) : null;
      if (!p || p.type !== "scep" || !p.enabled) throw new SignetError("not_found", `no SCEP provisioner named ${JSON.stringify(name.slice(0, 64))}`);
      req.scepProvisioner = p;
    });

    app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      if (isSignetError(err) && !SERVER_SIDE.has(err.code)) {
        const status = err.code === "not_found" ? 404 : 400;
        void reply.code(status).type("text/plain; charset=utf-8").send(`${err.message}\n`);
        return;
      }
      if (isSignetError(err)) {
        // The server's own trouble (database, signer): temporary, and nothing of it for the client.
        req.log.error({ err, path: req.url.split("?")[0] }, "SCEP request failed");
        void reply.code(503).header("retry-after", "5").type("text/plain; charset=utf-8").send("temporarily unavailable, try again\n");
        return;
      }
      if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
        void reply.code(413).type("text/plain; charset=utf-8").send(`the SCEP message is larger than ${MAX_MESSAGE} bytes\n`);
        return;
      }
      if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
        void reply.code(err.statusCode).type("text/plain; charset=utf-8").send(`${err.message}\n`);
        return;
      }
      req.log.error({ err, path: req.url.split("?")[0] }, "SCEP request failed");
      void reply.code(500).type("text/plain; charset=utf-8").send("internal error\n");
    });

    const handler = async (req: FastifyRequest<{ Querystring: { operation?: string; message?: string } }>, reply: FastifyReply) => {
      const op = req.query.operation;
      const p = req.scepProvisioner;
      switch (op) {
        case "GetCACaps":
          return reply.type("text/plain; charset=utf-8").send(caps(service, p).join("\n") + "\n");
        case "GetCACert": {
          // With an RA: a degenerate SignedData with the RA certificate and the CA (RFC 8894 §4.2.1.2).
          const current = ra.current();
          return reply.type("application/x-x509-ca-ra-cert").send(degenerate([current.certDer, authority.intermediate.certDer]));
        }
        case "GetNextCACert": {
          const next = opts.nextCa?.() ?? null;
          if (!next) throw new SignetError("not_found", "no CA rollover is in progress: there is no next CA certificate");
          const current = ra.current();
          const body = buildSignedData({ content: degenerate([current.certDer, next]), certificates: [current.certDer, authority.intermediate.certDer], signer: { certDer: current.certDer, key: current.key, info: current.info, digest: "sha256", attributes: [] } });
          return reply.type("application/x-x509-next-ca-cert").send(body);
        }
        case "PKIOperation": {
          const raw = req.method === "POST" ? (req.body as Buffer | undefined) : messageFromQuery(req.query.message);
          if (!raw || raw.length === 0) throw new SignetError("bad_scep_message", "PKIOperation needs a message (POST body, or ?message= base64)");
          if (raw.length > MAX_MESSAGE) throw new SignetError("bad_scep_message", `the SCEP message is larger than ${MAX_MESSAGE} bytes`);
          const settings = service.settingsOf(p);
          let answer: Answer;
          let type = "unknown";
          try {
            const msg = parsePkiMessage(raw, { sha1Signatures: !settings.requireSha2, legacy: settings.legacy });
            type = msg.messageType;
            answer = await service.handle(p, msg);
          } catch (err) {
            if (!(err instanceof ScepFailure)) throw err;
            answer = service.failure(err.replyTo, err.failInfo, err.message);
          }
          if (answer.status === "FAILURE") req.log.info({ provisioner: p.name, messageType: type, failInfo: answer.failInfo, reason: answer.reason }, "SCEP request refused");
          opts.onAnswer?.(p.name, type, answer.status);
          return reply.type(PKI_MESSAGE).send(answer.body);
        }
        default:
          throw new SignetError("bad_request", `unknown SCEP operation ${JSON.stringify(String(op ?? "").slice(0, 32))} (GetCACaps, GetCACert, GetNextCACert, PKIOperation)`);
      }
    };
    const schema = { querystring: { type: "object", properties: { operation: { type: "string", maxLength: 64 }, message: { type: "string", maxLength: MAX_MESSAGE * 2 } } } };
    for (const path of ["/", "/pkiclient.exe"]) {
      app.get(path, { schema }, handler);
      app.post(path, { schema }, handler);
    }
  };
}

/** GetCACaps (RFC 8894 §3.5.2): what this provisioner accepts. */
function caps(service: ScepService, p: ProvisionerRecord): string[] {
  const s = service.settingsOf(p);
  const out = ["POSTPKIOperation", "SHA-256", "SHA-512", "AES", "SCEPStandard", "GetNextCACert"];
  if (s.renewal) out.push("Renewal");
  if (s.legacy) out.push("DES3", "SHA-1");
  return out;
}

/** The GET form's message: base64 (standard or URL-safe), as clients send it after URL decoding. */
function messageFromQuery(m: string | undefined): Buffer | undefined {
  if (m === undefined) return undefined;
  // A '+' left unescaped in the query string arrives as a space; line breaks are folding.
  const text = m.replace(/ /g, "+").replace(/[\r\n\t]/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw new SignetError("bad_scep_message", "the message parameter is not base64");
  return Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}
