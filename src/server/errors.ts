// The admin API's one table from error codes to HTTP statuses, and the error handler that applies it.
// Clients get {statusCode, code, error, message, detail?}; a 5xx never carries the cause or a stack.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { STATUS_CODES } from "node:http";
import { type ErrorCode, isSignetError } from "../../ca/errors.js";

export const HTTP_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  body_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  bad_csr: 400,
  bad_csr_signature: 400,
  bad_pem: 400,
  bad_serial: 400,
  bad_lifetime: 400,
  bad_policy: 400,
  bad_provisioner: 400,
  bad_revocation_reason: 400,
  bad_ocsp_request: 400,
  bad_crl: 400,
  bad_scep_message: 400,
  bad_scep_signature: 400,
  bad_scep_algorithm: 400,
  bad_challenge: 403,
  pending: 409,
  forbidden_key: 403,
  forbidden_name: 403,
  forbidden_profile: 403,
  provisioner_disabled: 403,
  blocked: 403,
  unknown_provisioner: 404,
  unknown_certificate: 404,
  already_revoked: 409,
  conflict: 409,
  unauthenticated: 401,
  forbidden: 403,
  ca_not_initialized: 503,
  ca_already_initialized: 409,
  root_key_offline: 409,
  passphrase_required: 500,
  bad_passphrase: 500,
  database_locked: 503,
  unreachable: 503,
  config_invalid: 500,
  storage_failed: 503,
  signing_failed: 503,
  internal: 500,
};

export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  detail?: Record<string, unknown>;
}

export const errorBodySchema = {
  type: "object",
  required: ["statusCode", "code", "error", "message"],
  properties: {
    statusCode: { type: "integer" },
    code: { type: "string" },
    error: { type: "string" },
    message: { type: "string" },
    detail: { type: "object", additionalProperties: true },
  },
} as const;

function body(statusCode: number, code: ErrorCode, message: string, detail?: Record<string, unknown>): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? "Error", message, ...(detail ? { detail } : {}) };
}

/** Fastify's own errors (validation, body limits, content types) mapped to stable codes. */
function fromFastify(err: FastifyError): ErrorBody | null {
  if (err.validation) {
    // Ajv's message for an unknown field does not say which one; the client needs to know.
    const unknown = err.validation.find((v) => v.keyword === "additionalProperties")?.params.additionalProperty;
    const which = typeof unknown === "string" ? ` (unknown field ${JSON.stringify(unknown)})` : "";
    return body(400, "bad_request", `invalid request: ${err.message}${which}`);
  }
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return body(413, "body_too_large", "the request body is larger than the server accepts");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return body(415, "unsupported_media_type", "unsupported content type for this endpoint (the admin API takes application/json, OCSP application/ocsp-request)");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return body(400, "bad_request", "the JSON body is empty");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return body(400, "bad_request", "the body is not valid JSON");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return body(400, "bad_request", "the Content-Length does not match the body");
    default:
      break;
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return body(err.statusCode, "bad_request", err.message);
  }
  if (err instanceof SyntaxError) return body(400, "bad_request", "the body is not valid JSON");
  return null;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    let out: ErrorBody | null = null;
    if (isSignetError(err)) {
      const status = HTTP_STATUS[err.code];
      out = status >= 500 ? body(status, err.code, err.message) : body(status, err.code, err.message, err.detail as Record<string, unknown> | undefined);
      if (status >= 500) req.log.error({ err, code: err.code }, "request failed");
    } else {
      out = fromFastify(err);
    }
    if (!out) {
      req.log.error({ err }, "unexpected error");
      out = body(500, "internal", "internal error");
    }
    void reply.status(out.statusCode).type("application/json").send(out);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(body(404, "not_found", `no route ${req.method} ${req.url.split("?")[0]}`));
  });
}
