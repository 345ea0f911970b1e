// Worker thread: verifies CSR signatures posted by CsrVerifyPool. Messages are batched both ways.
import { parentPort } from "node:worker_threads";
import { isSignetError } from "../../ca/errors.js";
import { parseCsr, verifyCsrSignature } from "../../ca/x509/index.js";

export interface VerifyRequest {
  id: number;
  der: Uint8Array;
}

export type VerifyReply = { id: number; ok: true } | { id: number; ok: false; code: string; message: string };

parentPort!.on("message", (batch: VerifyRequest[] | "exit-for-test") => {
  // A crash with work in flight, on request (CsrVerifyPool.terminateOneForTest).
  if (batch === "exit-for-test") process.exit(70);
  const replies: VerifyReply[] = batch.map(({ id, der }) => {
    try {
      verifyCsrSignature(parseCsr(Buffer.from(der.buffer, der.byteOffset, der.byteLength)));
      return { id, ok: true };
    } catch (err) {
      return isSignetError(err)
        ? { id, ok: false, code: err.code, message: err.message }
        : { id, ok: false, code: "bad_csr", message: "the CSR could not be verified" };
    }
  });
  parentPort!.postMessage(replies);
});
