// RFC 5280 §5.3.1 reason codes, as names (CLI/API) and numbers (storage, CRL, OCSP).
import { SignetError } from "./errors.js";

export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReasonName = keyof typeof REVOCATION_REASONS;

const BY_CODE = new Map<number, RevocationReasonName>(
  Object.entries(REVOCATION_REASONS).map(([k, v]) => [v, k as RevocationReasonName]),
);

export function reasonName(code: number): RevocationReasonName | "unknown" {
  return BY_CODE.get(code) ?? "unknown";
}

/** Accepts a name or a number; refuses the codes a revocation cannot carry. Revocations are permanent,
 * so certificateHold is refused; removeFromCRL only exists inside delta CRLs. */
export function parseRevocationReason(v: unknown): number {
  const code =
    typeof v === "number" ? v : typeof v === "string" && v in REVOCATION_REASONS ? REVOCATION_REASONS[v as RevocationReasonName] : undefined;
  if (code === undefined || !BY_CODE.has(code)) {
    throw new SignetError("bad_revocation_reason", `unknown revocation reason ${JSON.stringify(v)}; use one of ${Object.keys(REVOCATION_REASONS).filter((k) => k !== "removeFromCRL" && k !== "certificateHold").join(", ")}`);
  }
  if (code === REVOCATION_REASONS.certificateHold) {
    throw new SignetError("bad_revocation_reason", "certificateHold is not supported: revocations in Signet are permanent");
  }
  if (code === REVOCATION_REASONS.removeFromCRL) {
    throw new SignetError("bad_revocation_reason", "removeFromCRL is only meaningful inside a delta CRL");
  }
  return code;
}
