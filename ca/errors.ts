// One error type for the whole authority, with a code from a closed union. Front ends map codes to
// their protocol's error form in one table each (HTTP status for the admin API, ACME problem types,
// SCEP failInfo). The message is written for the client: it must never carry secrets or stack traces.

export const ERROR_CODES = {
  // request is malformed
  bad_request: "the request is malformed",
  body_too_large: "the request body is larger than the server accepts",
  unsupported_media_type: "the request's content type is not supported",
  not_found: "no such resource",
  bad_csr: "the certificate signing request cannot be parsed",
  bad_csr_signature: "the certificate signing request's signature does not verify",
  bad_pem: "the PEM or DER input cannot be parsed",
  bad_serial: "the serial number is not valid hex",
  bad_lifetime: "the requested lifetime is outside what is allowed",
  bad_policy: "the name policy is invalid",
  bad_provisioner: "the provisioner definition is invalid",
  bad_revocation_reason: "the revocation reason is not an RFC 5280 reason code",
  bad_ocsp_request: "the OCSP request cannot be parsed",
  bad_crl: "the CRL cannot be parsed",
  bad_scep_message: "the SCEP message (CMS) cannot be parsed",
  bad_scep_signature: "the SCEP message's signature does not verify",
  bad_scep_algorithm: "the SCEP message uses an algorithm that is not supported",
  bad_challenge: "the SCEP challenge password is wrong, used or expired",
  // refused by policy
  forbidden_key: "the public key type or size is not allowed",
  forbidden_name: "a requested name is not allowed by policy",
  forbidden_profile: "the profile is not allowed for this provisioner",
  provisioner_disabled: "the provisioner is disabled",
  blocked: "the node, identity or account is blocked from enrolment",
  // not found / conflicts
  unknown_provisioner: "no such provisioner",
  unknown_certificate: "no such certificate",
  already_revoked: "the certificate is already revoked",
  conflict: "the request conflicts with the current state",
  pending: "the request awaits an operator's approval",
  // authentication
  unauthenticated: "authentication is required",
  forbidden: "the caller may not do this",
  // the authority itself
  ca_not_initialized: "the certificate authority has not been initialised",
  ca_already_initialized: "the certificate authority is already initialised",
  root_key_offline: "the root key is offline",
  passphrase_required: "the CA key passphrase is required",
  bad_passphrase: "the CA key passphrase is wrong or the key file is damaged",
  database_locked: "the embedded database is in use by another process",
  unreachable: "Signet cannot be reached",
  config_invalid: "the configuration is invalid",
  storage_failed: "the certificate could not be recorded",
  signing_failed: "the signer failed",
  internal: "internal error",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SignetError extends Error {
  override readonly name = "SignetError";
  readonly code: ErrorCode;
  /** Extra machine-readable detail safe to show the client (e.g. the offending name). */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message ?? ERROR_CODES[code], options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options?.detail;
  }
}

export function isSignetError(err: unknown, code?: ErrorCode): err is SignetError {
  return err instanceof SignetError && (code === undefined || err.code === code);
}
