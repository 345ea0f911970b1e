// The storage the ACME front end needs: ACME objects only. It never sees the CA's keys; certificates
// come from the authority's pipeline and are read through the authority's CertificateReader.
import type { AttestedBinding } from "../ca/attestation/sign-options.js";
import type { PublicJwk } from "./jws.js";
import type { UsedNonceStore } from "./nonces.js";
import type { Identifier, ProblemDocument } from "./problems.js";

export type AccountStatus = "valid" | "deactivated" | "revoked";
/** Stored order states; "ready" and expiry are derived when the order is read (§7.1.6). */
export type StoredOrderStatus = "pending" | "processing" | "valid" | "invalid";
export type OrderStatus = StoredOrderStatus | "ready";
export type AuthzStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type ChallengeStatus = "pending" | "processing" | "valid" | "invalid";
export const CHALLENGE_TYPES = ["http-01", "dns-01", "tls-alpn-01", "device-attest-01"] as const;
export type ChallengeType = (typeof CHALLENGE_TYPES)[number];

export interface AccountRecord {
  id: string;
  provisionerId: string;
  thumbprint: string;
  jwk: PublicJwk;
  status: AccountStatus;
  contact: string[];
  termsAgreed: boolean;
  eabKid: string | null;
  createdAt: Date;
}

export interface OrderRecord {
  id: string;
  accountId: string;
  provisionerId: string;
  status: StoredOrderStatus;
  identifiers: Identifier[];
  authzIds: string[];
  notBefore: Date | null;
  notAfter: Date | null;
  profile: string | null;
  expires: Date;
  error: ProblemDocument | null;
  certificateSerial: string | null;
  replaces: string | null;
  createdAt: Date;
}

export interface ChallengeRecord {
  type: ChallengeType;
  token: string;
  status: ChallengeStatus;
  /** ISO time the challenge was validated. */
  validated?: string;
  error?: ProblemDocument;
  /** device-attest-01, once valid: the TPM-resident key the certificate request must carry, and the
   * posture decision the device's attestation earned. */
  attested?: DeviceAttested;
}

export interface DeviceAttested {
  /** base64url DER SubjectPublicKeyInfo. */
  keySpki: string;
  binding: AttestedBinding;
}

/** Verifies a device-attest-01 response and decides what the device may hold (wired by the
 * composition root to the attestation service; the ACME front end holds no TPM logic). Throws
 * AcmeProblem (badAttestationStatement, unauthorized, rejectedIdentifier) when it does not. */
export type DeviceAttestVerifier = (input: {
  attestationProvisioner: string;
  permanentIdentifier: string;
  attObj: string;
  keyAuthorization: string;
  accountId: string;
}) => Promise<{ keySpki: Buffer; binding: AttestedBinding }>;

export interface AuthzRecord {
  id: string;
  accountId: string;
  orderId: string;
  identifier: Identifier;
  wildcard: boolean;
  status: Exclude<AuthzStatus, "expired">;
  expires: Date;
  challenges: ChallengeRecord[];
}

export interface EabKeyRecord {
  kid: string;
  provisionerId: string;
  keyCiphertext: Buffer;
  singleUse: boolean;
  note: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  usedAt: Date | null;
  accountId: string | null;
  revokedAt: Date | null;
  /** Set when the key was handed out for an attestation decision: what its accounts may hold. */
  binding: AttestedBinding | null;
}

export type NewAccount = Omit<AccountRecord, "createdAt">;

export interface WindowCount {
  count: number;
  /** The oldest counted event, to tell the client when the window frees a slot. */
  oldest: Date | null;
}

export interface AcmeStore extends UsedNonceStore {
  account(id: string): Promise<AccountRecord | null>;
  accountByThumbprint(provisionerId: string, thumbprint: string): Promise<AccountRecord | null>;
  /** Creates the account, and marks `eab` used in the same transaction when given. If an account with
   * this key exists already (a concurrent newAccount), returns it with created = false; if the EAB key
   * was used meanwhile, returns "eab_used". */
  createAccount(a: NewAccount, eab: { kid: string; singleUse: boolean } | null): Promise<{ account: AccountRecord; created: boolean } | "eab_used">;
  updateAccount(id: string, patch: { contact?: string[]; status?: AccountStatus }): Promise<AccountRecord | null>;
  /** Replaces the key if the account still has `oldThumbprint`; "conflict" if another account of the
   * provisioner holds the new key. */
  changeKey(id: string, oldThumbprint: string, jwk: PublicJwk, newThumbprint: string): Promise<AccountRecord | "conflict" | null>;
  ordersOfAccount(accountId: string, after: string | null, limit: number): Promise<{ ids: string[]; more: boolean }>;

  /** Stores the order and its authorizations; "replaced" if `order.replaces` names a certificate
   * another live order already replaces. */
  createOrder(order: OrderRecord, authzs: AuthzRecord[]): Promise<void | "replaced">;
  /** The order with its authorizations, in one read. */
  orderWithAuthzs(id: string): Promise<{ order: OrderRecord; authzs: AuthzRecord[] } | null>;
  /** pending → processing, only while every authorization of the order is valid and unexpired (so a
   * deactivation that commits first wins); null otherwise. */
  beginFinalize(id: string, now: Date): Promise<OrderRecord | null>;
  /** Compare-and-set on the stored status. */
  setOrderStatus(id: string, from: StoredOrderStatus, to: StoredOrderStatus, fields?: { error?: ProblemDocument; certificateSerial?: string }): Promise<OrderRecord | null>;
  /** An order (not invalid) that replaces the certificate with this ARI certID. */
  orderReplacing(certId: string): Promise<OrderRecord | null>;
  /** New orders and failed validations of the account since `since`, for its rate limits. */
  recentActivity(accountId: string, since: Date): Promise<{ orders: WindowCount; failedValidations: WindowCount }>;

  authz(id: string): Promise<AuthzRecord | null>;
  /** Applies `fn` to the authorization and stores what it returns (null: no change), atomically
   * against concurrent updates (`fn` may run again on a fresher copy). `current`, when the caller has
   * just read it, saves a read; it is only trusted if nothing changed since. */
  updateAuthz(id: string, fn: (a: AuthzRecord) => AuthzRecord | null, current?: AuthzRecord): Promise<AuthzRecord | null>;

  /** True when the account holds unexpired valid authorizations for every identifier (§7.6). */
  holdsValidAuthzs(accountId: string, identifiers: Identifier[], now: Date): Promise<boolean>;

  eabKey(kid: string): Promise<EabKeyRecord | null>;
  createEabKey(k: EabKeyRecord): Promise<void>;
  listEabKeys(provisionerId: string | null): Promise<EabKeyRecord[]>;
  revokeEabKey(kid: string, at: Date): Promise<EabKeyRecord | null>;
  /** Authorizations with a challenge still "processing" though last written before `before`
   * (the replica validating them stopped). */
  staleValidations(before: Date, limit: number): Promise<string[]>;
  /** Orders still "processing" though last written before `before` (the replica finalizing them
   * stopped): made invalid with `error`; returns how many. */
  failStaleOrders(before: Date, error: ProblemDocument): Promise<number>;
  /** Deletes orders and authorizations that expired before `before`; returns how many orders. */
  purgeExpired(before: Date): Promise<number>;
  /** Deletes used nonces that have expired; returns how many. */
  purgeNonces(before: Date): Promise<number>;
}
