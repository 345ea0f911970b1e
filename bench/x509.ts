// Micro-benchmark for the issuance hot path's X.509 work: `npx tsx bench/x509.ts`.
// Prints microseconds per operation; no assertions (a benchmark is not a test).
import { generateKeyPairSync } from "node:crypto";
import { SIGNATURE_ALGORITHMS } from "../ca/signer.js";
import {
  assembleCertificate,
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  buildCsr,
  buildTbsCertificate,
  crlDistributionPoints,
  encodeName,
  extKeyUsage,
  keyIdentifier,
  keyUsage,
  OID,
  parseCsr,
  signetRoles,
  subjectAltName,
  subjectKeyIdentifierExtension,
  verifyCsrSignature,
} from "../ca/x509/index.js";

const ALG = SIGNATURE_ALGORITHMS["ecdsa-with-SHA256"].algorithmIdentifier;

// Typical workload CSRs: P-256, CN, two DNS names and a SPIFFE URI. A pool of distinct keys, so
// nothing key-specific can be cached between iterations.
const csrPool = Array.from({ length: 256 }, (_, i) => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return buildCsr({
    privateKey,
    publicKey,
    keyAlgorithm: "P-256",
    subject: [{ type: "CN", value: `svc-${i}` }],
    sans: { dns: [`svc-${i}.ns.svc.cluster.local`, "svc.example"], uri: [`spiffe://td/ns/x/sa/svc-${i}`] },
  });
});
const spki = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "der" });

function time(label: string, iterations: number, fn: () => void): void {
  for (let i = 0; i < Math.min(2000, iterations); i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  const us = Number(process.hrtime.bigint() - start) / 1000 / iterations;
  console.log(`${label}: ${us.toFixed(2)} µs`);
}

let n = 0;
time("CSR parse+verify (P-256)", 10_000, () => verifyCsrSignature(parseCsr(csrPool[n++ & 255]!)));

// Per-issuer/profile extensions are encoded once, as ca/profiles.ts does.
const issuerKeyId = keyIdentifier(spki);
const issuerName = encodeName([{ type: "O", value: "Signet" }, { type: "CN", value: "Signet Intermediate CA" }]);
const profile = [
  keyUsage(["digitalSignature"]),
  extKeyUsage([OID.ekuClientAuth, OID.ekuServerAuth]),
  basicConstraints(false),
  authorityKeyIdentifier(issuerKeyId),
  authorityInfoAccess({ ocsp: ["http://signet.example/ocsp"], caIssuers: ["http://signet.example/ca.der"] }),
  crlDistributionPoints(["http://signet.example/crl"]),
];
const csr = parseCsr(csrPool[0]!);
const serial = Buffer.from("5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e", "hex");
const notBefore = new Date();
const notAfter = new Date(notBefore.getTime() + 86_400_000);
let tbs: Buffer = Buffer.alloc(0);
time("leaf TBSCertificate build (subject, SKI, SAN, roles + cached profile)", 50_000, () => {
  tbs = buildTbsCertificate({
    serial,
    signatureAlgorithm: ALG,
    issuerNameDer: issuerName,
    notBefore,
    notAfter,
    subjectNameDer: encodeName([{ type: "CN", value: csr.subject.commonName ?? "" }]),
    spki: csr.spki,
    extensions: [
      ...profile,
      subjectKeyIdentifierExtension(keyIdentifier(csr.spki)),
      subjectAltName(csr.sans),
      signetRoles(["reader"]),
    ],
  });
});
void assembleCertificate(tbs, ALG, Buffer.alloc(72));
