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
};

export function attested(b: AttestedBinding): SignOption[] {
  return [
    {
      kind: "validator",
      name: "attested-names",
      validate({ csr }) {
        const dns = new Set(b.dns);
        const ip = new Set(b.ip);
        const extra = [
          ...csr.sans.dns.filter((d) => !dns.has(d.toLowerCase())),
          ...csr.sans.ip.filter((a) => !ip.has(a)),
          ...csr.sans.uri.filter((u) => u !== b.spiffeId),
          ...csr.sans.email,
        ];
        const cn = csr.subject.commonName;
        if (cn !== undefined && !dns.has(cn.toLowerCase()) && !ip.has(cn) && cn !== b.identity) extra.push(`CN=${cn}`);
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
