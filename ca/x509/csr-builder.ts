// Builds PKCS#10 requests for keys Signet itself holds or generates (its HTTPS certificate, the CLI's
// `signet issue` without --csr, tests and benchmarks). RFC 2986 CertificationRequest.
import { sign, type KeyObject } from "node:crypto";
import { signatureAlgorithmFor, type KeyAlgorithm } from "../signer.js";
import { TAG, bitString, integer, oid, tlv } from "./der.js";
import { subjectAltName } from "./extensions.js";
import type { SubjectAltNamesInput } from "./general-names.js";
import { encodeName, type NameAttribute } from "./name.js";
import { PKCS9_OIDS } from "./oids.js";

export interface CsrInput {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyAlgorithm: KeyAlgorithm;
  subject: NameAttribute[];
  sans?: SubjectAltNamesInput;
}

export function buildCsr(input: CsrInput): Buffer {
  const spki = input.publicKey.export({ format: "der", type: "spki" });
  const attributes: Buffer[] = [];
  const sans = input.sans;
  if (sans && (sans.dns?.length || sans.ip?.length || sans.uri?.length || sans.email?.length)) {
    const extensions = tlv(TAG.SEQUENCE, subjectAltName(sans, input.subject.length === 0));
    attributes.push(tlv(TAG.SEQUENCE, oid(PKCS9_OIDS.extensionRequest), tlv(TAG.SET, extensions)));
  }
  const info = tlv(TAG.SEQUENCE, integer(0), encodeName(input.subject), spki, tlv(0xa0, ...attributes));
  const alg = signatureAlgorithmFor(input.keyAlgorithm);
  const signature = sign(alg.hash, info, input.privateKey);
  return tlv(TAG.SEQUENCE, info, alg.algorithmIdentifier, bitString(signature));
}
