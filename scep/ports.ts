// The storage the SCEP front end needs, and nothing more: its transactions, its one-time challenges
// and the RA credential. src/db/scep-store.ts implements it over SQL.
import type { ChallengeBinding } from "../ca/provisioners/index.js";
import type { FailInfo } from "./message.js";

export type TransactionStatus = "processing" | "pending" | "success" | "failure";

/** How a request was authorised, kept with the transaction (approval issues under it later). */
export type ScepAuthorization =
  | { kind: "static" }
  | { kind: "challenge"; challengeId: string; binding: ChallengeBinding }
  | { kind: "webhook" }
  | { kind: "renewal"; previousSerial: string }
  | { kind: "approval" };

export interface ScepTransactionRecord {
  id: string;
  provisionerId: string;
  transactionId: string;
  requestHash: string;
  keyFingerprint: string;
  messageType: string;
  status: TransactionStatus;
  failInfo: FailInfo | null;
  reason: string | null;
  csr: Buffer;
  subject: string;
  names: { dns: string[]; ip: string[] };
  authorization: ScepAuthorization;
  certificateSerial: string | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewTransaction = Omit<ScepTransactionRecord, "status" | "failInfo" | "reason" | "certificateSerial" | "decidedBy" | "decidedAt" | "createdAt" | "updatedAt">;

export interface TransactionUpdate {
  status: TransactionStatus;
  failInfo?: FailInfo | null;
  reason?: string | null;
  certificateSerial?: string | null;
  decidedBy?: string | null;
  authorization?: ScepAuthorization;
}

export interface ChallengeRecord {
  id: string;
  provisionerId: string;
  binding: ChallengeBinding;
  note: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  usedBy: string | null;
}

export interface RaKeyRecord {
  id: string;
  certDer: Buffer;
  keyCiphertext: Buffer;
  notAfter: Date;
  createdAt: Date;
}

export interface ScepStore {
  /** Every request of a transactionID at a provisioner, newest first. */
  transactions(provisionerId: string, transactionId: string): Promise<ScepTransactionRecord[]>;
  transaction(id: string): Promise<ScepTransactionRecord | null>;
  /** Records a request as being processed. Returns null when the same request already exists (a
   * replay: read it instead), unless that one was left `processing` before `staleBefore`, in which
   * case this caller takes it over. */
  claim(t: NewTransaction, staleBefore: Date): Promise<ScepTransactionRecord | null>;
  /** Moves a transaction on, only from one of `from`; null when it was not in one of them. */
  update(id: string, u: TransactionUpdate, from: TransactionStatus[]): Promise<ScepTransactionRecord | null>;
  /** Deletes a transaction still `processing` (the server could not complete it). */
  release(id: string): Promise<void>;
  listTransactions(filter: { status?: TransactionStatus; provisionerId?: string }, limit: number): Promise<ScepTransactionRecord[]>;

  createChallenge(c: Omit<ChallengeRecord, "usedAt" | "usedBy"> & { secretHash: string }): Promise<void>;
  /** Spends a usable challenge atomically; null when it is unknown, used, expired or another provisioner's. */
  spendChallenge(provisionerId: string, secretHash: string, usedBy: string, now: Date): Promise<ChallengeRecord | null>;
  /** Gives a spent challenge back (the enrolment failed for a reason that was not the client's). */
  restoreChallenge(id: string, usedBy: string): Promise<void>;
  listChallenges(provisionerId: string | null, limit: number): Promise<ChallengeRecord[]>;

  raKeys(): Promise<RaKeyRecord[]>;
  /** false when a row with this id exists. */
  addRaKey(k: Omit<RaKeyRecord, "createdAt">): Promise<boolean>;
}
