// Verifying a CSR's self-signature (proof of possession) is the most expensive step of issuance
// (importing the key and one signature check, ~0.2 ms for P-256). The authority calls it through this
// seam so that src/ can run it on worker threads, i.e. on the cores the main thread does not use.
import { verifyCsrSignature, type ParsedCsr } from "./x509/index.js";

export interface CsrVerifier {
  /** Resolves when the signature verifies; rejects with SignetError bad_csr / bad_csr_signature. */
  verify(csr: ParsedCsr): Promise<void>;
}

export const inProcessCsrVerifier: CsrVerifier = {
  async verify(csr) {
    verifyCsrSignature(csr);
  },
};
