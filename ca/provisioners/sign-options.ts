// Provisioners authorise a request by returning sign options (smallstep's AuthorizeSign → []SignOption).
// Modifiers shape the draft certificate, validators check the request, enforcers check the finished
// draft. Every front end (admin API, ACME, SCEP, attestation) becomes "a provisioner said these apply".
import type { ParsedCsr } from "../x509/index.js";
import type { Names, ProvisionerRecord, ProvisionerType } from "../ports.js";
import type { ProfileName } from "../profiles.js";

/** The certificate being prepared, before it is recorded and signed. */
export interface Draft {
  commonName: string | null;
  names: Names;
  spiffeId: string | null;
  roles: string[];
  profile: ProfileName;
  lifetimeSeconds: number;
  identity: string | null;
  nodeId: string | null;
}

export interface SignContext {
  readonly csr: ParsedCsr;
  readonly request: IssueRequest;
  readonly provisioner: ProvisionerRecord;
  readonly now: Date;
}

export type SignOption =
  | { kind: "modifier"; name: string; modify(draft: Draft, ctx: SignContext): void }
  | { kind: "validator"; name: string; validate(ctx: SignContext): void }
  | { kind: "enforcer"; name: string; enforce(draft: Draft, ctx: SignContext): void };

export interface IssueRequest {
  /** PKCS#10, PEM or DER. */
  csr: Buffer | string;
  /** Instead of a CSR: a key whose possession was proven another way (TPM2 credential activation
   * binds an attestation key to its TPM, and such a key cannot sign a CSR of its own free will).
   * The certificate then names only what the sign options put in. */
  provenKey?: { spki: Buffer; proof: "tpm2-credential-activation" } | undefined;
  /** The provisioner's name. */
  provisioner: string;
  /** The front end the request came through; the provisioner must be of this type (an ACME
   * provisioner cannot be used through the admin API, and so on). */
  via: ProvisionerType;
  /** Who asks, for the audit trail: "admin-token:<id>", "acme-account:<id>"... */
  actor: string;
  /** A profile name; the provisioner's options check it. */
  profile?: string | undefined;
  lifetimeSeconds?: number | undefined;
  roles?: string[] | undefined;
  /** The identity the certificate is recorded against (defaults to the SPIFFE ID, else the CN). */
  identity?: string | undefined;
  /** The node/host the certificate was issued to, for revoke --node. */
  nodeId?: string | undefined;
  /** The ACME account placing the order (set by the ACME front end; blocks and revoke --account use it). */
  accountId?: string | undefined;
  /** A SPIFFE ID to carry as the URI SAN (added if the CSR lacks it). */
  spiffeId?: string | undefined;
  /** Options the front end adds for this request (e.g. ACME: the CSR's names must equal the order's). */
  options?: SignOption[] | undefined;
}

export interface ProvisionerBehaviour {
  authorizeSign(ctx: SignContext): SignOption[];
}
