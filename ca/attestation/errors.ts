// One error type for evidence that does not verify, with a code from a closed union. The attestation
// front door maps codes to its answer in one table. Messages say exactly which check failed but never
// quote the token or any value taken from it: evidence is a bearer credential, and an error message
// ends up in logs and in the client's hands.

export const ATTESTATION_ERROR_CODES = {
  malformed: "the evidence cannot be parsed",
  too_large: "the evidence is larger than accepted",
  unsupported_alg: "the evidence's signature algorithm is not accepted",
  unsupported_header: "the evidence's header carries a parameter that is refused",
  unknown_key: "no trusted key can verify the evidence",
  weak_key: "the only keys that could verify the evidence are too weak or invalid",
  bad_signature: "the evidence's signature does not verify",
  expired: "the evidence has expired",
  not_yet_valid: "the evidence is not valid yet",
  too_old: "the evidence was issued too long ago",
  wrong_audience: "the evidence is not meant for Signet",
  wrong_issuer: "the evidence comes from an issuer that is not trusted",
  missing_claim: "the evidence lacks a required claim",
  claim_mismatch: "the evidence's claims contradict each other",
  replayed: "the evidence has been used before",
  bad_jwks: "the key set, or where it is loaded from, is not acceptable",
  jwks_unavailable: "the key set cannot be loaded",
} as const;

export type AttestationErrorCode = keyof typeof ATTESTATION_ERROR_CODES;

export class AttestationError extends Error {
  override readonly name = "AttestationError";
  readonly code: AttestationErrorCode;

  constructor(code: AttestationErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ATTESTATION_ERROR_CODES[code], options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

export function isAttestationError(err: unknown, code?: AttestationErrorCode): err is AttestationError {
  return err instanceof AttestationError && (code === undefined || err.code === code);
}
