// What a certificate issued under an attestation decision may hold, as sign options for the one
// pipeline: the CSR asks for no name the decision did not allow, and the certificate carries the
// decision's SPIFFE ID, identity, node and roles whatever the CSR says.
import { SignetError } from "../errors.js";
import type { SignOption } from "../provisioners/sign-options.js";
import type { AllowDecision } from "./types.js";

/** The part of a decision that travels with a credential (EAB key, SCEP challenge). */
export type AttestedBinding = Omit<AllowDecision, "allow" | "reasons"> & {
  /** sha256 of the evidence the decision was made on. */
  evidenceDigest: string;
  /** ISO time after which the decision no longer issues (null: only as long as the credential lives). */
  expiresAt: string | null;
  /** A subject common name the certificate may carry besides its names: the workload's own name
   * from the evidence (a device name, a join token's identity), when it fits a CN. */
  commonName: string | null;
};

/** Throws once the decision behind a credential has expired: the workload must attest again. */
export function assertBindingCurrent(b: AttestedBinding, now: Date): void {
  if (b.expiresAt !== null && Date.parse(b.expiresAt) <= now.getTime()) {
    throw new SignetError("forbidden", `the attestation decision behind this credential expired at ${b.expiresAt}: attest again`);
  }
}

export function attested(b: AttestedBinding): SignOption[] {
  return [
    {
      kind: "validator",
      name: "attested-names",
      validate({ csr, now }) {
        assertBindingCurrent(b, now);
        const dns = new Set(b.dns);
        const ip = new Set(b.ip);
        const extra = [
          ...csr.sans.dns.filter((d) => !dns.has(d.toLowerCase())),
          ...csr.sans.ip.filter((a) => !ip.has(a)),
          ...csr.sans.uri.filter((u) => u !== b.spiffeId),
          ...csr.sans.email,
        ];
        const cn = csr.subject.commonName;
        if (cn !== undefined && !dns.has(cn.toLowerCase()) && !ip.has(cn) && cn !== b.identity && cn !== b.commonName) extra.push(`CN=${cn}`);
        if (extra.length > 0) {
          throw new SignetError("forbidden_name", `the attestation decision does not allow ${extra.join(", ")}`, { detail: { names: extra } });
        }
      },
    },
    {
      kind: "modifier",
      name: "attested-identity",
      modify(draft) {
        if (b.spiffeId !== null) draft.spiffeId = b.spiffeId;
        draft.identity = b.identity;
        draft.nodeId = b.nodeId;
        draft.roles = [...b.roles];
        if (b.profile !== null) draft.profile = b.profile;
        if (b.lifetimeSeconds !== null && draft.lifetimeSeconds > b.lifetimeSeconds) draft.lifetimeSeconds = b.lifetimeSeconds;
      },
    },
  ];
}

/** The CSR must carry exactly `spki`: the key a TPM attested (device-attest-01), which proves the
 * certificate's key lives in that TPM. */
export function csrKeyIs(spki: Buffer): SignOption {
  return {
    kind: "validator",
    name: "device-attested-key",
    validate({ csr }) {
      if (!csr.spki.equals(spki)) throw new SignetError("bad_csr", "the CSR's public key is not the key the device's TPM attested in device-attest-01");
    },
  };
}
