// The composition root's core: opens the database, builds the repositories and the authority over
// the loaded CA. The servers and the CLI's local commands both start from here.
import { join } from "node:path";
import type { Logger } from "pino";
import { EabKeyBox, NonceService, createEabKey } from "../acme/index.js";
import { Authority, type IssuerContext } from "../ca/authority.js";
import type { CaMaterial } from "../ca/ca-material.js";
import { describePublicKey, parseCertificate } from "../ca/x509/index.js";
import { issuerUrls, type Config } from "./config.js";
import { SqlAcmeStore } from "./db/acme-store.js";
import { SqlScepStore } from "./db/scep-store.js";
import { ScepService } from "../scep/index.js";
import { RaKeys } from "./scep/ra-keys.js";
import { AttestationService } from "./attestation/service.js";
import { SqlAttestationStore } from "./db/attestation-store.js";
import { SqlProxyStore } from "./db/proxy-store.js";
import { ProxyControl } from "./proxy/control.js";
import { AdminTokenRepository } from "./db/admin-tokens.js";
import { AuditRepository } from "./db/audit.js";
import { CertificateRepository } from "./db/certificates.js";
import { openDatabase, type Database } from "./db/database.js";
import { Journal } from "./db/journal.js";
import { ProvisionerRepository } from "./db/provisioners.js";
import { AuthorityPolicyRepository } from "./db/settings.js";
import { RevocationStore } from "./db/revocations.js";
import { Metrics } from "./metrics.js";
import { BlockCache } from "./revocation/blocks.js";
import { CsrVerifyPool } from "./workers/csr-verify-pool.js";

export interface Services {
  config: Config;
  log: Logger;
  db: Database;
  journal: Journal;
  certificates: CertificateRepository;
  provisioners: ProvisionerRepository;
  policy: AuthorityPolicyRepository;
  tokens: AdminTokenRepository;
  audit: AuditRepository;
  revocations: RevocationStore;
  /** Enrolment blocks, in memory for the pipeline (kept current by the server's revocation follower). */
  blocks: BlockCache;
  authority: Authority;
  /** ACME state, nonces and EAB keys, shared by every replica on one database. */
  acme: { store: SqlAcmeStore; nonces: NonceService; eabBox: EabKeyBox };
  /** SCEP transactions and challenges, the shared RA credential, and the enrolment logic. The RA
   * is loaded (and issued on first use) by the server at start-up: ra.start(). */
  scep: { store: SqlScepStore; ra: RaKeys; service: ScepService };
  /** Posture attestation: evidence, policy, and credentials bound to decisions. */
  attestation: AttestationService;
  /** The inference proxy's control plane: access tokens, API-defined routes, usage. */
  proxy: ProxyControl;
  /** Where GetCRL reads the published CRL from (set by the server once revocation has started). */
  scepCrl: { source: (issuerId: string) => Buffer | null };
  ca: CaMaterial;
  metrics: Metrics;
  close(): Promise<void>;
}

export function issuerContext(certDer: Buffer, signer: IssuerContext["signer"], cfg: Config): IssuerContext {
  const cert = parseCertificate(certDer);
  if (!cert.subjectKeyId) throw new Error("a CA certificate without a subject key identifier cannot issue");
  const id = cert.subjectKeyId.toString("hex");
  return { id, certDer, subjectDer: cert.subjectDer, subjectKeyId: cert.subjectKeyId, notAfter: cert.notAfter, signer, urls: issuerUrls(cfg, id) };
}

export async function openDatabaseFor(cfg: Config): Promise<Database> {
  return openDatabase({ url: cfg.databaseUrl, dataDir: join(cfg.home, "db") });
}

export async function openServices(cfg: Config, log: Logger, ca: CaMaterial, db?: Database): Promise<Services> {
  const database = db ?? (await openDatabaseFor(cfg));
  // Measured on 2 cores (npm run bench): PostgreSQL does best with two batches of 128 overlapping on
  // two connections; PGlite, single-threaded in this process, with one batch of 64 at a time.
  const journal = new Journal(
    database.prisma,
    database.raw,
    log.child({ component: "audit" }),
    database.kind === "postgresql" ? { maxBatch: 128, maxInFlight: 2 } : { maxBatch: 64, maxInFlight: 1, singleWriter: true },
  );
  const certificates = new CertificateRepository(database.prisma, database.raw);
  const provisioners = new ProvisionerRepository(database.prisma, journal);
  const policy = new AuthorityPolicyRepository(database.prisma, journal);
  const metrics = new Metrics();
  const csrVerifier = cfg.verifyWorkers > 0 ? new CsrVerifyPool(cfg.verifyWorkers) : null;
  const intermediate = issuerContext(ca.intermediate.certDer, ca.intermediate.signer, cfg);
  const root = issuerContext(ca.root.certDer, ca.root.signer ?? null, cfg);
  await recordCaCertificates(database, ca, [root, intermediate]);
  for (const [kind, c] of [["root", root], ["intermediate", intermediate]] as const) {
    metrics.caNotAfter.set({ kind, id: c.id }, Math.floor(c.notAfter.getTime() / 1000));
  }
  const blocks = new BlockCache(journal);
  await blocks.load();
  // This process's own blocks and unblocks apply as they commit.
  journal.onEvents = blocks.apply;
  const authority = new Authority({
    intermediate,
    root,
    ledger: journal,
    certificates,
    provisioners,
    authorityPolicy: policy,
    lifetime: { minSeconds: cfg.minLifetimeSeconds, maxSeconds: cfg.maxLifetimeSeconds, backdateSeconds: cfg.backdateSeconds },
    observer: metrics,
    blocks,
    ...(csrVerifier ? { csrVerifier } : {}),
  });
  const acmeStore = new SqlAcmeStore(database.raw);
  const scepStore = new SqlScepStore(database.raw);
  const eabBox = new EabKeyBox(ca.intermediate.signer.deriveSecret("signet acme eab v1"));
  const ra = new RaKeys(scepStore, authority, ca.intermediate.signer.deriveSecret("signet scep ra v1"), log.child({ component: "scep" }), { lifetimeSeconds: cfg.scepRaLifetimeSeconds });
  // GetCRL answers with the published CRL; the server sets the source once revocation has started.
  const scepCrl: { source: (issuerId: string) => Buffer | null } = { source: () => null };
  const scepService = new ScepService({ authority, certificates, provisioners, store: scepStore, audit: journal, ra, crl: (id) => scepCrl.source(id) });
  const attestation = new AttestationService({
    authority,
    certificates,
    provisioners,
    blocks,
    audit: journal,
    store: new SqlAttestationStore(database.raw),
    createEab: (target, actor, opts) => createEabKey({ store: acmeStore, box: eabBox, audit: journal }, target, actor, opts),
    scep: scepService,
    home: cfg.home,
    httpUrl: cfg.httpUrl,
    log: log.child({ component: "attestation" }),
  });
  return {
    config: cfg,
    log,
    db: database,
    journal,
    certificates,
    provisioners,
    policy,
    tokens: new AdminTokenRepository(database.prisma, journal),
    audit: new AuditRepository(database.prisma),
    revocations: new RevocationStore(database.raw),
    blocks,
    authority,
    acme: {
      store: acmeStore,
      // Both keys derive from the intermediate key, so every replica holding it agrees on them.
      nonces: new NonceService(ca.intermediate.signer.deriveSecret("signet acme nonce v1"), acmeStore, { lifetimeSeconds: cfg.acmeNonceLifetimeSeconds }),
      eabBox,
    },
    scep: {
      store: scepStore,
      ra,
      service: scepService,
    },
    scepCrl,
    attestation,
    proxy: new ProxyControl(new SqlProxyStore(database.raw), journal, cfg.proxyTokenMaxTtlSeconds),
    ca,
    metrics,
    async close() {
      ra.stop();
      attestation.close();
      await journal.drain();
      await csrVerifier?.close();
      await database.close();
    },
  };
}

async function recordCaCertificates(db: Database, ca: CaMaterial, [root, intermediate]: [IssuerContext, IssuerContext]): Promise<void> {
  for (const [kind, ctx, parentId, alg] of [
    ["root", root, null, ca.root.signer?.keyAlgorithm],
    ["intermediate", intermediate, root.id, ca.intermediate.signer.keyAlgorithm],
  ] as const) {
    const cert = parseCertificate(ctx.certDer);
    await db.prisma.certificateAuthority.upsert({
      where: { id: ctx.id },
      create: {
        id: ctx.id,
        kind,
        subject: cert.subject.text,
        parentId,
        der: new Uint8Array(ctx.certDer),
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        keyAlgorithm: alg ?? describePublicKey(cert.spki).name,
      },
      update: { active: true },
    });
  }
}
