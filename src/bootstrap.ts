// First start and every start: make sure a CA exists and is loaded, and that the database has what
// a fresh Signet needs (the admin provisioner and the first admin token, written once to
// $SIGNET_HOME/admin.token with mode 0600).
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import { AUDIT_EVENTS } from "../ca/audit.js";
import type { CaMaterial } from "../ca/ca-material.js";
import { SignetError, isSignetError } from "../ca/errors.js";
import { caExists, caFiles, generatePassphraseFile, initCa, loadCa, readCaMetadata, resolvePassphrase, type InitCaOptions } from "./home/ca-files.js";
import type { Config } from "./config.js";
import type { Services } from "./services.js";

export interface PreparedCa {
  ca: CaMaterial;
  created: boolean;
  passphraseSource: "env" | "file" | "generated";
}

const ZERO_CONFIG_WARNING = [
  "",
  "  ************************************************************************************",
  "  *  ZERO-CONFIG START: the CA keys are encrypted with a passphrase that Signet just  *",
  "  *  generated and stored beside them in $SIGNET_HOME/secrets/ca-passphrase.          *",
  "  *  That protects nothing if the disk is stolen. In production, supply your own     *",
  "  *  passphrase with SIGNET_CA_PASSPHRASE or SIGNET_CA_PASSPHRASE_FILE.               *",
  "  ************************************************************************************",
  "",
].join("\n");

/** Loads the CA, or on an empty home with `zeroConfig`, creates one (generating a passphrase if none is set). */
export async function prepareCa(cfg: Config, log: Logger, env: NodeJS.ProcessEnv, opts: { zeroConfig: boolean; init?: Omit<InitCaOptions, "passphrase"> }): Promise<PreparedCa> {
  if (!caExists(cfg.home)) {
    if (!opts.zeroConfig) throw new SignetError("ca_not_initialized", `no CA in ${cfg.home}: run \`signet init\` (or \`signet serve\` for a zero-config start)`);
    let passphrase: string;
    let source: PreparedCa["passphraseSource"];
    try {
      ({ passphrase, source } = resolvePassphrase(cfg.home, env));
    } catch (err) {
      if (!isSignetError(err, "passphrase_required")) throw err;
      passphrase = generatePassphraseFile(cfg.home);
      source = "generated";
    }
    if (source === "generated") process.stderr.write(`${ZERO_CONFIG_WARNING}\n`);
    const ca = await initCa(cfg.home, { ...opts.init, passphrase });
    log.info({ event: "ca.created", home: cfg.home, root: caFiles(cfg.home).rootCert }, "created a new CA");
    return { ca, created: true, passphraseSource: source };
  }
  const { passphrase, source } = resolvePassphrase(cfg.home, env);
  if (source === "generated") {
    log.warn({ passphrase_source: "generated" }, "the CA passphrase is the zero-config one stored beside the keys; set SIGNET_CA_PASSPHRASE(_FILE) in production");
  }
  return { ca: await loadCa(cfg.home, passphrase), created: false, passphraseSource: source };
}

const BOOTSTRAP_KEY = "bootstrap";

export function adminTokenPath(home: string): string {
  return join(home, "admin.token");
}

/** Once per database: the admin provisioner and the first admin token. Returns the token file if written. */
export async function bootstrapDatabase(s: Services, caCreated: boolean): Promise<{ adminTokenFile: string | null }> {
  const cfg = s.config;
  const done = await s.db.prisma.setting.findUnique({ where: { key: BOOTSTRAP_KEY } });
  if (caCreated) {
    const meta = readCaMetadata(cfg.home);
    await s.journal.append({
      event: meta.source === "imported" ? AUDIT_EVENTS.caImported : AUDIT_EVENTS.caInitialized,
      actor: "system:bootstrap",
      target: `ca:${s.authority.intermediate.id}`,
      data: { root: meta.root, intermediate: meta.intermediate, rootKeyOffline: meta.rootKeyOffline },
    });
  }
  await auditRootKeyExports(s);
  if (done && (done.value as { state?: string }).state !== "started") return { adminTokenFile: null };
  // Claim the bootstrap, so that replicas starting together on one PostgreSQL do it once. A claim
  // left by a process that died mid-way (older than a minute) is taken over and the steps redone:
  // each is idempotent, and a token whose plaintext was lost expires unused.
  if (done) {
    const startedAt = Date.parse((done.value as { at?: string }).at ?? "");
    if (Date.now() - startedAt < 60_000) return { adminTokenFile: null };
  } else {
    const claimed = await s.db.prisma.setting.createMany({
      data: [{ key: BOOTSTRAP_KEY, value: { state: "started", at: new Date().toISOString() } }],
      skipDuplicates: true,
    });
    if (claimed.count === 0) return { adminTokenFile: null };
  }
  await s.provisioners.upsert(
    {
      name: "admin",
      type: "admin",
      profile: "client",
      defaultLifetimeSeconds: cfg.defaultLifetimeSeconds,
      maxLifetimeSeconds: cfg.maxLifetimeSeconds,
      policy: {},
      options: { allowedProfiles: ["client", "server", "client-server"] },
      enabled: true,
    },
    "system:bootstrap",
  );
  const { token } = await s.tokens.create("bootstrap", cfg.adminTokenTtlSeconds, "system:bootstrap");
  const file = adminTokenPath(cfg.home);
  writeSecretFile(file, `${token}\n`);
  await s.db.prisma.setting.update({ where: { key: BOOTSTRAP_KEY }, data: { value: { state: "done", at: new Date().toISOString() } } });
  return { adminTokenFile: file };
}

const ACME_BOOTSTRAP_KEY = "bootstrap.acme_provisioner";

/** Once per database (so deleting it sticks): the zero-config ACME provisioner, "acme". It issues
 * client and server certificates for names whose control the client proves, within the authority's
 * name policy, with the default lifetime. With a CA created by this start it is open (the zero-config
 * promise); added to an existing installation by an upgrade it requires External Account Binding, so
 * an upgrade never opens a door nobody asked for. */
export async function ensureAcmeProvisioner(s: Services, caCreated: boolean): Promise<void> {
  const claimed = await s.db.prisma.setting.createMany({ data: [{ key: ACME_BOOTSTRAP_KEY, value: { at: new Date().toISOString() } }], skipDuplicates: true });
  if (claimed.count === 0 || (await s.provisioners.get("acme"))) return;
  await s.provisioners.upsert(
    {
      name: "acme",
      type: "acme",
      profile: "client-server",
      defaultLifetimeSeconds: s.config.defaultLifetimeSeconds,
      maxLifetimeSeconds: s.config.maxLifetimeSeconds,
      policy: {},
      options: {
        description: caCreated ? "Zero-config ACME provisioner" : "ACME provisioner added by an upgrade (EAB required: signet eab create)",
        allowedProfiles: ["client", "server", "client-server"],
        ...(caCreated ? {} : { requireEab: true }),
      },
      enabled: true,
    },
    "system:bootstrap",
  );
}

const SCEP_BOOTSTRAP_KEY = "bootstrap.scep_provisioner";

/** Once per database (so deleting it sticks): the zero-config SCEP provisioner, "scep". It enrols with
 * one-time challenges only (`signet scep challenge`), so it opens nothing until an operator hands
 * one out; client certificates with the default lifetime. */
export async function ensureScepProvisioner(s: Services): Promise<void> {
  const claimed = await s.db.prisma.setting.createMany({ data: [{ key: SCEP_BOOTSTRAP_KEY, value: { at: new Date().toISOString() } }], skipDuplicates: true });
  if (claimed.count === 0 || (await s.provisioners.get("scep"))) return;
  await s.provisioners.upsert(
    {
      name: "scep",
      type: "scep",
      profile: "client",
      defaultLifetimeSeconds: s.config.defaultLifetimeSeconds,
      maxLifetimeSeconds: s.config.maxLifetimeSeconds,
      policy: {},
      options: { description: "Zero-config SCEP provisioner (one-time challenges: signet scep challenge)", dynamicChallenges: true },
      enabled: true,
    },
    "system:bootstrap",
  );
}

const ATTEST_BOOTSTRAP_KEY = "bootstrap.attestation_provisioner";

/** The zero-config posture policy: join tokens earn the identity (and names) their claims say. */
export const DEFAULT_ATTESTATION_POLICY = `// Posture policy of the zero-config "attest" provisioner (Cedar; reloaded when this file changes).
// Join tokens (signet token join --claim identity=... --claim dns=...) earn the identity their claims
// name. Add permits for Kubernetes service-account tokens and signed posture assertions here, and
// configure their issuers on the provisioner: see examples/attestation/policy.cedar.

@id("join-token-with-names")
@identity("spiffe://{trustDomain}/{identity}")
@dns("{dns}")
permit (principal, action == Action::"enrol", resource)
when { context.type == "join-token" && context.claims has identity && context.claims has dns };

@id("join-token")
@identity("spiffe://{trustDomain}/{identity}")
permit (principal, action == Action::"enrol", resource)
when { context.type == "join-token" && context.claims has identity };
`;

/** Once per database: the zero-config attestation front door, "attest" (join tokens, with the
 * policy above written to $SIGNET_HOME/policies/attest.cedar unless a file is there), and the ACME
 * provisioner its EAB keys belong to, "acme-attested" (EAB required, so only attested accounts). */
export async function ensureAttestationProvisioner(s: Services): Promise<void> {
  const claimed = await s.db.prisma.setting.createMany({ data: [{ key: ATTEST_BOOTSTRAP_KEY, value: { at: new Date().toISOString() } }], skipDuplicates: true });
  if (claimed.count === 0) return;
  const policyFile = join(s.config.home, "policies", "attest.cedar");
  if (!existsSync(policyFile)) {
    mkdirSync(dirname(policyFile), { recursive: true });
    writeFileSync(policyFile, DEFAULT_ATTESTATION_POLICY, { mode: 0o644 });
  }
  const common = { defaultLifetimeSeconds: s.config.defaultLifetimeSeconds, maxLifetimeSeconds: s.config.maxLifetimeSeconds, policy: {}, enabled: true } as const;
  if (!(await s.provisioners.get("acme-attested"))) {
    await s.provisioners.upsert(
      { name: "acme-attested", type: "acme", profile: "client-server", ...common, options: { description: "ACME for attested workloads (EAB keys from /attest/attest)", requireEab: true, allowedProfiles: ["client", "server", "client-server"] } },
      "system:bootstrap",
    );
  }
  if (!(await s.provisioners.get("attest"))) {
    await s.provisioners.upsert(
      { name: "attest", type: "attestation", profile: "client", ...common, options: { description: "Zero-config posture attestation (join tokens)", acmeProvisioner: "acme-attested", scepProvisioner: "scep", joinTokens: true, allowedProfiles: ["client", "server", "client-server"] } },
      "system:bootstrap",
    );
  }
}

const ROOT_EXPORTS_AUDITED = "audit.root_key_exports";

/** `signet ca export-root-key` and `init --offline-root` run where the embedded database may be held
 * by a running server, so they record each export in ca.json; here, at every start, the exports not
 * yet in the audit chain are written to it, with the count of those audited, in one transaction. */
async function auditRootKeyExports(s: Services): Promise<void> {
  if (!caExists(s.config.home)) return;
  const exports = readCaMetadata(s.config.home).rootKeyExports ?? [];
  if (exports.length === 0) return;
  await s.journal.transact(async (tx, append) => {
    const row = await tx.setting.findUnique({ where: { key: ROOT_EXPORTS_AUDITED } });
    const audited = (row?.value as { count?: number } | undefined)?.count ?? 0;
    if (audited >= exports.length) return;
    for (const e of exports.slice(audited)) {
      append({
        event: AUDIT_EVENTS.caRootKeyExported,
        actor: "cli:ca-export-root-key",
        target: `ca:${s.authority.root.id}`,
        data: { at: e.at, removed: e.removed, fingerprint: e.fingerprint, outFile: e.outFile },
      });
    }
    await tx.setting.upsert({
      where: { key: ROOT_EXPORTS_AUDITED },
      create: { key: ROOT_EXPORTS_AUDITED, value: { count: exports.length } },
      update: { value: { count: exports.length } },
    });
  });
}

/** Writes a file only its owner can read, atomically. */
export function writeSecretFile(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function adminTokenExists(home: string): boolean {
  return existsSync(adminTokenPath(home));
}
