// A CA for tests, made once per key algorithm and cached in a temp directory.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authority, type IssuerContext } from "../../ca/authority.js";
import type { CaMaterial } from "../../ca/ca-material.js";
import type { KeyAlgorithm } from "../../ca/signer.js";
import { parseCertificate } from "../../ca/x509/index.js";
import { initCa } from "../../src/home/ca-files.js";
import { MemoryLedger, MemoryPolicy, MemoryProvisioners } from "./memory.js";

export const TEST_PASSPHRASE = "correct horse battery staple";
export const TEST_HTTP_URL = "http://signet.test:8080";

const cache = new Map<string, Promise<{ home: string; ca: CaMaterial }>>();
const homes: string[] = [];

export function testCa(alg: KeyAlgorithm = "P-256", opts: { offlineRoot?: boolean } = {}): Promise<{ home: string; ca: CaMaterial }> {
  const key = `${alg}/${opts.offlineRoot ? "offline" : "online"}`;
  let p = cache.get(key);
  if (!p) {
    const home = mkdtempSync(join(tmpdir(), "signet-ca-"));
    homes.push(home);
    p = initCa(home, {
      passphrase: TEST_PASSPHRASE,
      rootKeyAlgorithm: alg,
      keyAlgorithm: alg,
      ...(opts.offlineRoot ? { offlineRoot: { outFile: join(home, "offline-root.key"), passphrase: TEST_PASSPHRASE } } : {}),
    }).then((ca) => ({ home, ca }));
    cache.set(key, p);
  }
  return p;
}

export function removeTestCas(): void {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
  cache.clear();
}

export function issuer(certDer: Buffer, signer: IssuerContext["signer"]): IssuerContext {
  const c = parseCertificate(certDer);
  const id = c.subjectKeyId!.toString("hex");
  return {
    id,
    certDer,
    subjectDer: c.subjectDer,
    subjectKeyId: c.subjectKeyId!,
    notAfter: c.notAfter,
    signer,
    urls: { ocsp: `${TEST_HTTP_URL}/ocsp`, caIssuers: `${TEST_HTTP_URL}/certs/${id}.crt`, crl: `${TEST_HTTP_URL}/crl/${id}.crl`, deltaCrl: `${TEST_HTTP_URL}/crl/${id}-delta.crl` },
  };
}

export interface MemoryAuthority {
  authority: Authority;
  ledger: MemoryLedger;
  provisioners: MemoryProvisioners;
  policy: MemoryPolicy;
  ca: CaMaterial;
  home: string;
}

export async function memoryAuthority(alg: KeyAlgorithm = "P-256", opts: { offlineRoot?: boolean; now?: () => Date } = {}): Promise<MemoryAuthority> {
  const { ca, home } = await testCa(alg, opts);
  const ledger = new MemoryLedger();
  const provisioners = new MemoryProvisioners();
  provisioners.add({ name: "admin" });
  const policy = new MemoryPolicy();
  const authority = new Authority({
    intermediate: issuer(ca.intermediate.certDer, ca.intermediate.signer),
    root: issuer(ca.root.certDer, ca.root.signer ?? null),
    ledger,
    certificates: ledger,
    provisioners,
    authorityPolicy: policy,
    lifetime: { minSeconds: 300, maxSeconds: 30 * 86400, backdateSeconds: 60 },
    ...(opts.now ? { clock: opts.now } : {}),
  });
  return { authority, ledger, provisioners, policy, ca, home };
}
