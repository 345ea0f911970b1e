// RFC 8555 §6.7 problem documents (RFC 7807), and the one table that maps the authority's error codes
// to them. Everything the ACME front end refuses is thrown as an AcmeProblem; anything else that
// escapes a handler becomes serverInternal with no detail (the cause is logged, never sent).
import { isSignetError, type ErrorCode } from "../ca/errors.js";

export const PROBLEM_TYPES = [
  "accountDoesNotExist",
  "alreadyRevoked",
  "alreadyReplaced",
  "badAttestationStatement",
  "badCSR",
  "badNonce",
  "badPublicKey",
  "badRevocationReason",
  "badSignatureAlgorithm",
  "caa",
  "compound",
  "connection",
  "dns",
  "externalAccountRequired",
  "incorrectResponse",
  "invalidContact",
  "invalidProfile",
  "malformed",
  "orderNotReady",
  "rateLimited",
  "rejectedIdentifier",
  "serverInternal",
  "tls",
  "unauthorized",
  "unsupportedContact",
  "unsupportedIdentifier",
  "userActionRequired",
] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];

export interface Identifier {
  type: "dns" | "ip" | "permanent-identifier";
  value: string;
}

export interface ProblemDocument {
  type: string;
  detail: string;
  status?: number;
  identifier?: Identifier;
  subproblems?: ProblemDocument[];
  /** badSignatureAlgorithm: the algorithms the server accepts (§6.2). */
  algorithms?: string[];
}

const DEFAULT_STATUS: Record<ProblemType, number> = {
  accountDoesNotExist: 400,
  alreadyRevoked: 400,
  alreadyReplaced: 409,
  badAttestationStatement: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 401,
  incorrectResponse: 403,
  invalidContact: 400,
  invalidProfile: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
};

export const problemUrn = (type: ProblemType) => `urn:ietf:params:acme:error:${type}`;

export class AcmeProblem extends Error {
  override readonly name = "AcmeProblem";
  readonly status: number;
  constructor(
    readonly type: ProblemType,
    readonly detail: string,
    opts: { status?: number; identifier?: Identifier; subproblems?: ProblemDocument[]; algorithms?: string[]; retryAfterSeconds?: number; cause?: unknown; allow?: string } = {},
  ) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = opts.status ?? DEFAULT_STATUS[type];
    this.identifier = opts.identifier;
    this.subproblems = opts.subproblems;
    this.algorithms = opts.algorithms;
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.allow = opts.allow;
  }
  readonly identifier: Identifier | undefined;
  readonly subproblems: ProblemDocument[] | undefined;
  readonly algorithms: string[] | undefined;
  /** rateLimited and friends: sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;
  /** 405: the methods the resource takes. */
  readonly allow: string | undefined;

  toJSON(): ProblemDocument {
    return problemDocument(this.type, this.detail, this.status, this);
  }
}

export function problemDocument(type: ProblemType, detail: string, status?: number, extra: { identifier?: Identifier | undefined; subproblems?: ProblemDocument[] | undefined; algorithms?: string[] | undefined } = {}): ProblemDocument {
  return {
    type: problemUrn(type),
    detail,
    ...(status === undefined ? {} : { status }),
    ...(extra.identifier ? { identifier: extra.identifier } : {}),
    ...(extra.subproblems && extra.subproblems.length > 0 ? { subproblems: extra.subproblems } : {}),
    ...(extra.algorithms ? { algorithms: extra.algorithms } : {}),
  };
}

/** The authority's codes as ACME problems. Server-side failures carry no detail from the cause. */
const FROM_CODE: Record<ErrorCode, ProblemType> = {
  bad_request: "malformed",
  body_too_large: "malformed",
  unsupported_media_type: "malformed",
  not_found: "malformed",
  bad_csr: "badCSR",
  bad_csr_signature: "badCSR",
  bad_pem: "malformed",
  bad_serial: "malformed",
  bad_lifetime: "malformed",
  bad_policy: "malformed",
  bad_provisioner: "malformed",
  bad_revocation_reason: "badRevocationReason",
  bad_scep_message: "malformed",
  bad_scep_signature: "malformed",
  bad_scep_algorithm: "malformed",
  bad_challenge: "unauthorized",
  pending: "malformed",
  bad_ocsp_request: "malformed",
  bad_crl: "malformed",
  forbidden_key: "badCSR",
  forbidden_name: "rejectedIdentifier",
  forbidden_profile: "invalidProfile",
  provisioner_disabled: "unauthorized",
  blocked: "unauthorized",
  unknown_provisioner: "malformed",
  unknown_certificate: "malformed",
  already_revoked: "alreadyRevoked",
  conflict: "malformed",
  unauthenticated: "unauthorized",
  forbidden: "unauthorized",
  ca_not_initialized: "serverInternal",
  ca_already_initialized: "serverInternal",
  root_key_offline: "serverInternal",
  passphrase_required: "serverInternal",
  bad_passphrase: "serverInternal",
  database_locked: "serverInternal",
  unreachable: "serverInternal",
  config_invalid: "serverInternal",
  storage_failed: "serverInternal",
  signing_failed: "serverInternal",
  internal: "serverInternal",
};

const NOT_FOUND_CODES = new Set<ErrorCode>(["not_found", "unknown_provisioner", "unknown_certificate"]);

/** Any error as a problem; `null` cause means the client may see the message. */
export function toProblem(err: unknown): { problem: AcmeProblem; internal: boolean } {
  if (err instanceof AcmeProblem) return { problem: err, internal: err.status >= 500 };
  if (isSignetError(err)) {
    const type = FROM_CODE[err.code];
    if (type === "serverInternal") {
      const status = err.code === "storage_failed" || err.code === "signing_failed" || err.code === "database_locked" ? 503 : 500;
      return { problem: new AcmeProblem("serverInternal", "the server could not complete the request; try again later", { status }), internal: true };
    }
    return { problem: new AcmeProblem(type, err.message, NOT_FOUND_CODES.has(err.code) ? { status: 404 } : {}), internal: false };
  }
  return { problem: new AcmeProblem("serverInternal", "internal error"), internal: true };
}
