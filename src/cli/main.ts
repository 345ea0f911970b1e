// The `signet` command. Every command takes --json for scripts. Commands that read or change data go
// through the admin API of the running server (the embedded database is locked by it); `init`,
// `serve`, `ca export-root-key` and `audit verify --local` work on $SIGNET_HOME directly.
import { Command, Option } from "commander";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { verifyInferenceLog } from "../proxy/audit.js";
import { loadProxyConfig, parseProxyConfig } from "../proxy/config.js";
import { startDemoUpstream, type DemoUpstream } from "../proxy/demo-upstream.js";
import { runProxy, runProxyWorker, startProxy } from "../proxy/main.js";
import { SignetError, isSignetError } from "../../ca/errors.js";
import { generateKeyPair } from "../../ca/keys/generate.js";
import { CA_KEY_ALGORITHMS, type KeyAlgorithm } from "../../ca/signer.js";
import { buildCsr, derOrPem, parseDistinguishedNameString, toPem } from "../../ca/x509/index.js";
import { bootstrapDatabase, writeSecretFile } from "../bootstrap.js";
import { loadConfig, parseDuration, type Config } from "../config.js";
import {
  ROOT_EXPORT_PASSPHRASE_ENV,
  caExists,
  caFiles,
  exportRootKey,
  generatePassphraseFile,
  importCa,
  initCa,
  loadCa,
  resolvePassphrase,
  resolveRootExportPassphrase,
} from "../home/ca-files.js";
import { createLogger } from "../log.js";
import { openDatabaseFor, openServices } from "../services.js";
import { startServer } from "../server/server.js";
import { ApiError, apiClient } from "./client.js";
import { printCertificate, printCertificateTable, printKv, type CertificateJson } from "./format.js";

interface JsonFlag {
  json?: boolean;
}

function out(opts: JsonFlag, value: unknown, human: () => void): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else human();
}

function config(): Config {
  return loadConfig(process.env);
}

function readPassphraseFile(path: string): string {
  return readFileSync(path, "utf8").replace(/\r?\n$/, "");
}

/** Runs a command body, turning errors into a one-line message (or a JSON error) and exit code 1. */
function run<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const json = Boolean((cmd.opts() as JsonFlag).json);
    try {
      await fn(...args);
    } catch (err) {
      const e =
        err instanceof ApiError
          ? { code: err.code, message: err.message, status: err.status, detail: (err.body as { detail?: unknown }).detail }
          : isSignetError(err)
            ? { code: err.code, message: err.message, detail: err.detail }
            : { code: "internal", message: err instanceof Error ? err.message : String(err) };
      if (json) process.stdout.write(`${JSON.stringify({ error: e }, null, 2)}\n`);
      else process.stderr.write(`signet: ${e.message} (${e.code})\n`);
      process.exitCode = 1;
    }
  };
}

const keyTypeOption = (flag: string, desc: string, def?: string) => {
  const o = new Option(flag, desc).choices([...CA_KEY_ALGORITHMS]);
  return def ? o.default(def) : o;
};

export function buildProgram(): Command {
  const program = new Command("signet")
    .description("Signet: an internal PKI for workloads: CA, admin API, revocation (CRL, OCSP, live feed), ACME, SCEP, posture attestation and the mTLS inference proxy.\nReads SIGNET_HOME, SIGNET_HTTPS_PORT, SIGNET_HTTP_PORT and SIGNET_PROXY_PORT like the server.")
    .showHelpAfterError();

  program
    .command("init")
    .description("create a new CA (root + issuing intermediate) in $SIGNET_HOME, or import an existing one")
    .addOption(keyTypeOption("--key-type <type>", "the intermediate's key type (default: the root's)"))
    .addOption(keyTypeOption("--root-key-type <type>", "the root's key type", "P-256"))
    .option("--root-subject <dn>", "root subject", "CN=Signet Root CA,O=Signet")
    .option("--intermediate-subject <dn>", "intermediate subject", "CN=Signet Intermediate CA,O=Signet")
    .option("--root-lifetime <duration>", "root lifetime (e.g. 3650d)", "3650d")
    .option("--intermediate-lifetime <duration>", "intermediate lifetime", "1825d")
    .option("--root-path-len <n>", "root pathLenConstraint", "1")
    .option("--intermediate-path-len <n>", "intermediate pathLenConstraint", "0")
    .option("--offline-root <file>", "write the root key (encrypted PKCS#8) to FILE and keep it off this server")
    .option(
      "--offline-root-passphrase-file <file>",
      `passphrase for the offline root file, not the CA passphrase (or set ${ROOT_EXPORT_PASSPHRASE_ENV})`,
    )
    .option("--import-root-cert <file>", "import: the existing root certificate (PEM)")
    .option("--import-intermediate-cert <file>", "import: the existing intermediate certificate (PEM)")
    .option("--import-intermediate-key <file>", "import: the intermediate's private key (PEM, PKCS#8/SEC1/PKCS#1, may be encrypted)")
    .option("--import-key-passphrase-file <file>", "import: passphrase of the imported key files")
    .option("--import-root-key <file>", "import: the root's private key (omit to keep the root offline)")
    .option("--generate-passphrase", "generate the CA passphrase into $SIGNET_HOME/secrets (development only)")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: Record<string, string | boolean | undefined>, _cmd: Command) => {
        const cfg = config();
        if (caExists(cfg.home)) throw new SignetError("ca_already_initialized", `a CA already exists in ${cfg.home}`);
        let passphrase: string | undefined;
        try {
          ({ passphrase } = resolvePassphrase(cfg.home, process.env));
        } catch (err) {
          if (!o.generatePassphrase || !isSignetError(err, "passphrase_required")) throw err;
        }
        if (typeof o.offlineRootPassphraseFile === "string" && typeof o.offlineRoot !== "string") {
          throw new SignetError("bad_request", "--offline-root-passphrase-file needs --offline-root");
        }
        // Before a passphrase is generated: a refusal must leave the home as it was.
        const offlineRootPassphrase =
          typeof o.offlineRoot === "string"
            ? resolveRootExportPassphrase(process.env, {
                file: typeof o.offlineRootPassphraseFile === "string" ? o.offlineRootPassphraseFile : undefined,
                flag: "--offline-root-passphrase-file",
                caPassphrase: passphrase,
              })
            : undefined;
        if (passphrase === undefined) {
          passphrase = generatePassphraseFile(cfg.home);
          process.stderr.write("signet: generated a CA passphrase in $SIGNET_HOME/secrets/ca-passphrase: for development only\n");
        }
        const importing = Boolean(o.importRootCert || o.importIntermediateCert || o.importIntermediateKey);
        let ca;
        if (importing) {
          if (!o.importRootCert || !o.importIntermediateCert || !o.importIntermediateKey) {
            throw new SignetError("bad_request", "import needs --import-root-cert, --import-intermediate-cert and --import-intermediate-key");
          }
          const keyPass = typeof o.importKeyPassphraseFile === "string" ? readPassphraseFile(o.importKeyPassphraseFile) : undefined;
          ca = await importCa(cfg.home, {
            passphrase,
            rootCertPem: readFileSync(o.importRootCert as string, "utf8"),
            intermediateCertPem: readFileSync(o.importIntermediateCert as string, "utf8"),
            intermediateKeyPem: readFileSync(o.importIntermediateKey as string, "utf8"),
            ...(keyPass ? { intermediateKeyPassphrase: keyPass, rootKeyPassphrase: keyPass } : {}),
            ...(typeof o.importRootKey === "string" ? { rootKeyPem: readFileSync(o.importRootKey, "utf8") } : {}),
          });
        } else {
          const rootAlg = o.rootKeyType as KeyAlgorithm;
          ca = await initCa(cfg.home, {
            passphrase,
            rootKeyAlgorithm: rootAlg,
            keyAlgorithm: (o.keyType as KeyAlgorithm | undefined) ?? rootAlg,
            rootSubject: o.rootSubject as string,
            intermediateSubject: o.intermediateSubject as string,
            rootLifetimeSeconds: parseDuration(o.rootLifetime as string, "--root-lifetime"),
            intermediateLifetimeSeconds: parseDuration(o.intermediateLifetime as string, "--intermediate-lifetime"),
            rootPathLength: nonNegativeInt(o.rootPathLen as string, "--root-path-len"),
            intermediatePathLength: nonNegativeInt(o.intermediatePathLen as string, "--intermediate-path-len"),
            ...(typeof o.offlineRoot === "string" && offlineRootPassphrase !== undefined
              ? { offlineRoot: { outFile: o.offlineRoot, passphrase: offlineRootPassphrase } }
              : {}),
          });
        }
        const log = createLogger(process.env.SIGNET_LOG_LEVEL ?? "warn", process.stderr);
        const s = await openServices(cfg, log, ca);
        try {
          const { adminTokenFile } = await bootstrapDatabase(s, true);
          const files = caFiles(cfg.home);
          const result = {
            home: cfg.home,
            rootCertificate: files.rootCert,
            intermediateCertificate: files.intermediateCert,
            rootKeyOnline: ca.root.signer !== undefined,
            adminTokenFile,
            imported: importing,
          };
          out(o as JsonFlag, result, () =>
            printKv({
              "CA created in": cfg.home,
              "Root certificate": files.rootCert,
              "Root key": ca.root.signer ? "online (encrypted in $SIGNET_HOME/ca)" : "OFFLINE",
              "Admin token": adminTokenFile ?? "(this database already had one)",
            }),
          );
        } finally {
          await s.close();
        }
      }),
    );

  program
    .command("serve")
    .description("run Signet (creates a CA on first start if $SIGNET_HOME is empty: the zero-config start)")
    .option("--json", "machine-readable output (logs are always JSON lines)")
    .action(
      run(async () => {
        const cfg = config();
        const log = createLogger(cfg.logLevel);
        const server = await startServer(cfg, log);
        // The inference proxy beside it: $SIGNET_HOME/proxy.json if there is one, else a demo route
        // to a built-in OpenAI-compatible echo model (SIGNET_PROXY=off: no proxy).
        const proxy = process.env.SIGNET_PROXY === "off" ? null : await startServeProxy(cfg, log).catch((err: unknown) => {
          log.error({ err }, "the inference proxy did not start; Signet runs without it");
          return null;
        });
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          log.info({ signal }, "shutting down");
          Promise.resolve(proxy?.close())
            .then(() => server.close())
            .then(() => log.flush())
            .finally(() => process.exit(0));
        };
        process.on("SIGINT", () => stop("SIGINT"));
        process.on("SIGTERM", () => stop("SIGTERM"));
      }),
    );

  program
    .command("issue")
    .description("issue a certificate through the admin API: from --csr, or for a new key written beside the certificate")
    .option("--csr <file>", "PKCS#10 request (PEM or DER)")
    .option("--cn <name>", "subject common name (with a generated key)")
    .option("--dns <name...>", "DNS SANs (with a generated key)")
    .option("--ip <address...>", "IP SANs (with a generated key)")
    .option("--uri <uri...>", "URI SANs (with a generated key)")
    .option("--email <address...>", "email SANs (with a generated key)")
    .addOption(keyTypeOption("--key-type <type>", "key type of the generated key", "P-256"))
    .option("--spiffe-id <id>", "SPIFFE ID to carry as the URI SAN")
    .option("--roles <roles>", "comma-separated roles (Signet roles extension)")
    .option("--profile <profile>", "client | server | client-server")
    .option("--ttl <duration>", "lifetime, e.g. 1h (default: the provisioner's)")
    .option("--provisioner <name>", "admin provisioner", "admin")
    .option("--node <id>", "node the certificate is issued to (for revoke --node)")
    .option("--identity <id>", "identity to record (default: SPIFFE ID or CN)")
    .option("--out <prefix>", "write PREFIX.crt (chain) and, for a generated key, PREFIX.key (0600)")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: Record<string, string | string[] | undefined> & JsonFlag, _cmd: Command) => {
        const cfg = config();
        let csrPem: string;
        let keyPem: string | undefined;
        if (o.csr) {
          csrPem = toPem("CERTIFICATE REQUEST", derFromFile(o.csr as string));
        } else {
          if (!o.cn && !o.dns && !o.ip && !o.uri && !o.email && !o.spiffeId) {
            throw new SignetError("bad_request", "give --csr FILE, or names for a new key (--cn, --dns, --ip, --uri, --email, --spiffe-id)");
          }
          const alg = o.keyType as KeyAlgorithm;
          const { privateKey, publicKey } = alg === "P-256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPair(alg);
          const csr = buildCsr({
            privateKey,
            publicKey,
            keyAlgorithm: alg,
            subject: o.cn ? parseDistinguishedNameString(`CN=${(o.cn as string).replace(/([,+"\\<>;=])/g, "\\$1")}`) : [],
            sans: { dns: (o.dns as string[]) ?? [], ip: (o.ip as string[]) ?? [], uri: (o.uri as string[]) ?? [], email: (o.email as string[]) ?? [] },
          });
          csrPem = toPem("CERTIFICATE REQUEST", csr);
          keyPem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
        }
        const body = {
          csr: csrPem,
          provisioner: o.provisioner,
          ...(o.profile ? { profile: o.profile } : {}),
          ...(o.ttl ? { lifetimeSeconds: parseDuration(o.ttl as string, "--ttl") } : {}),
          ...(o.roles ? { roles: (o.roles as string).split(",").map((r) => r.trim()).filter(Boolean) } : {}),
          ...(o.node ? { nodeId: o.node } : {}),
          ...(o.identity ? { identity: o.identity } : {}),
          ...(o.spiffeId ? { spiffeId: o.spiffeId } : {}),
        };
        const r = await apiClient(cfg).call<{ certificate: CertificateJson; pem: string; chainPem: string }>("POST", "/admin/v1/certificates", body);
        const files: Record<string, string> = {};
        if (o.out) {
          writeFileSync(`${o.out}.crt`, r.chainPem, { mode: 0o644 });
          files.certificate = `${o.out}.crt`;
          if (keyPem) {
            writeSecretFile(`${o.out}.key`, keyPem);
            files.key = `${o.out}.key`;
          }
        }
        out(o, { ...r, ...(keyPem && !o.out ? { keyPem } : {}), files }, () => {
          printCertificate(r.certificate);
          if (o.out) printKv(files);
          else process.stdout.write(r.chainPem + (keyPem ?? ""));
        });
      }),
    );

  const certs = program.command("certs").description("query issued certificates");
  certs
    .command("list")
    .description("list certificates, newest first")
    .option("--status <status>", "pending | valid | revoked | failed")
    .option("--identity <id>")
    .option("--node <id>")
    .option("--spiffe-id <id>")
    .option("--provisioner <name>")
    .option("--dns <name>", "certificates carrying this DNS name")
    .option("--expires-within <duration>", "valid certificates expiring within this time (e.g. 2h)")
    .option("--limit <n>", "page size", "100")
    .option("--cursor <cursor>", "continue from a previous page")
    .option("--all", "follow every page")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: Record<string, string | boolean | undefined> & JsonFlag, _cmd: Command) => {
        const client = apiClient(config());
        const q = new URLSearchParams();
        if (o.status) q.set("status", o.status as string);
        if (o.identity) q.set("identity", o.identity as string);
        if (o.node) q.set("node", o.node as string);
        if (o.spiffeId) q.set("spiffeId", o.spiffeId as string);
        if (o.provisioner) q.set("provisioner", o.provisioner as string);
        if (o.dns) q.set("dnsName", o.dns as string);
        if (o.expiresWithin) {
          q.set("expiresAfter", new Date().toISOString());
          q.set("expiresBefore", new Date(Date.now() + parseDuration(o.expiresWithin as string, "--expires-within") * 1000).toISOString());
        }
        q.set("limit", String(nonNegativeInt(o.limit as string, "--limit")));
        let cursor = (o.cursor as string | undefined) ?? null;
        const items: CertificateJson[] = [];
        let next: string | null = null;
        do {
          if (cursor) q.set("cursor", cursor);
          const page = await client.call<{ items: CertificateJson[]; next: string | null }>("GET", `/admin/v1/certificates?${q}`);
          items.push(...page.items);
          next = page.next;
          cursor = next;
        } while (o.all && cursor);
        out(o, { items, next }, () => {
          printCertificateTable(items);
          if (next) process.stdout.write(`(more: --cursor ${next})\n`);
        });
      }),
    );
  certs
    .command("show <serial>")
    .description("show one certificate")
    .option("--pem", "print only the PEM")
    .option("--json", "machine-readable output")
    .action(
      run(async (serial: string, o: JsonFlag & { pem?: boolean }, _cmd: Command) => {
        const c = await apiClient(config()).call<CertificateJson>("GET", `/admin/v1/certificates/${encodeURIComponent(serial)}`);
        out(o, c, () => {
          if (o.pem) process.stdout.write(c.pem ?? "");
          else {
            printCertificate(c);
            if (c.pem) process.stdout.write(c.pem);
          }
        });
      }),
    );

  program
    .command("revoke [serial]")
    .description(
      "revoke a certificate, or with --node/--identity/--account everything it holds (and block it from enrolling until `signet unblock`). RFC 5280 reasons: keyCompromise, superseded, cessationOfOperation, affiliationChanged, privilegeWithdrawn, cACompromise, aACompromise, unspecified",
    )
    .option("--node <id>", "revoke every unexpired certificate of this node and block it")
    .option("--identity <id>", "revoke every unexpired certificate of this identity or SPIFFE ID and block it")
    .option("--account <id>", "revoke every unexpired certificate ordered by this ACME account and block it")
    .option("--reason <reason>", "revocation reason", "unspecified")
    .option("--invalidity-date <iso>", "when the key is known or suspected to have been compromised (RFC 5280 §5.3.2)")
    .option("--note <text>", "why (kept with the block)")
    .option("--json", "machine-readable output")
    .action(
      run(async (serial: string | undefined, o: JsonFlag & BlockFlags & { reason: string; invalidityDate?: string; note?: string }, _cmd: Command) => {
        const target = blockTarget(o, serial === undefined);
        const api = apiClient(config());
        const common = { reason: o.reason, ...(o.invalidityDate ? { invalidityDate: o.invalidityDate } : {}) };
        if (!target) {
          if (serial === undefined) throw new SignetError("bad_request", "give a serial, or one of --node, --identity, --account");
          const c = await api.call<CertificateJson>("POST", `/admin/v1/certificates/${encodeURIComponent(serial)}/revoke`, common);
          out(o, c, () => process.stdout.write(`revoked ${c.serial} (${c.revocationReason}) at ${c.revokedAt}\n`));
          return;
        }
        if (serial !== undefined) throw new SignetError("bad_request", `give a serial or --${target.kind}, not both`);
        const r = await api.call<{ block: BlockJson; revoked: CertificateJson[]; count: number }>("POST", "/admin/v1/revocations", {
          [target.kind]: target.value,
          ...common,
          ...(o.note ? { note: o.note } : {}),
        });
        out(o, r, () => {
          for (const c of r.revoked) process.stdout.write(`revoked ${c.serial}  ${c.identity ?? c.commonName ?? ""}  (expires ${c.notAfter})\n`);
          process.stdout.write(`${r.count} certificate${r.count === 1 ? "" : "s"} revoked (${o.reason}); ${target.kind} ${target.value} is blocked from enrolment until: signet unblock --${target.kind} ${target.value}\n`);
        });
      }),
    );

  program
    .command("unblock")
    .description("let a node, identity or ACME account blocked by `signet revoke --node/--identity/--account` enrol again")
    .option("--node <id>", "the node")
    .option("--identity <id>", "the identity or SPIFFE ID")
    .option("--account <id>", "the ACME account")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & BlockFlags, _cmd: Command) => {
        const target = blockTarget(o, true)!;
        const b = await apiClient(config()).call<BlockJson>("DELETE", `/admin/v1/blocks/${target.kind}?value=${encodeURIComponent(target.value)}`);
        out(o, b, () => process.stdout.write(`unblocked ${b.kind} ${b.value} (blocked since ${b.createdAt} by ${b.createdBy})\n`));
      }),
    );

  program
    .command("blocks")
    .description("list the nodes, identities and ACME accounts blocked from enrolment")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag, _cmd: Command) => {
        const r = await apiClient(config()).call<{ items: BlockJson[] }>("GET", "/admin/v1/blocks");
        out(o, r, () => {
          for (const b of r.items) process.stdout.write(`${b.kind.padEnd(9)} ${b.value}  since ${b.createdAt} by ${b.createdBy}: ${b.reason}\n`);
          if (r.items.length === 0) process.stdout.write("(no blocks)\n");
        });
      }),
    );

  const eab = program.command("eab").description("ACME External Account Binding keys (RFC 8555 §7.3.4)");
  eab
    .command("create")
    .description("create an EAB key for an ACME provisioner; the HMAC key is printed once and never again")
    .option("--provisioner <name>", "the ACME provisioner", "acme")
    .option("--reusable", "the key may bind several accounts (default: single use, unless the provisioner says otherwise)")
    .option("--ttl <duration>", "expire the key after this long (e.g. 1h, 30d)")
    .option("--note <text>", "what the key is for, kept with it")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { provisioner: string; reusable?: boolean; ttl?: string; note?: string }, _cmd: Command) => {
        const body = {
          provisioner: o.provisioner,
          ...(o.reusable ? { reusable: true } : {}),
          ...(o.ttl ? { ttlSeconds: parseDuration(o.ttl, "--ttl") } : {}),
          ...(o.note ? { note: o.note } : {}),
        };
        const k = await apiClient(config()).call<EabJson & { hmacKey: string; directory: string }>("POST", "/admin/v1/acme/eab", body);
        out(o, k, () =>
          process.stdout.write(
            [
              `kid:       ${k.kid}`,
              `hmac key:  ${k.hmacKey}`,
              `directory: ${k.directory}`,
              `${k.singleUse ? "single use" : "reusable"}${k.expiresAt ? `, expires ${k.expiresAt}` : ""}`,
              "",
              `certbot: --server ${k.directory} --eab-kid ${k.kid} --eab-hmac-key=${k.hmacKey}`,
              `lego:    --server ${k.directory} --eab --kid ${k.kid} --hmac=${k.hmacKey}`,
              "",
            ].join("\n"),
          ),
        );
      }),
    );
  eab
    .command("list")
    .description("list EAB keys (never their key material)")
    .option("--provisioner <name>", "only this ACME provisioner's")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { provisioner?: string }, _cmd: Command) => {
        const r = await apiClient(config()).call<{ items: EabJson[] }>("GET", `/admin/v1/acme/eab${o.provisioner ? `?provisioner=${encodeURIComponent(o.provisioner)}` : ""}`);
        out(o, r, () => {
          for (const k of r.items) process.stdout.write(`${k.kid}  ${k.provisioner.padEnd(12)} ${k.state.padEnd(8)} ${k.singleUse ? "single-use" : "reusable  "} ${k.createdAt}${k.accountId ? ` account ${k.accountId}` : ""}${k.note ? `  ${k.note}` : ""}\n`);
          if (r.items.length === 0) process.stdout.write("(no EAB keys)\n");
        });
      }),
    );
  eab
    .command("revoke")
    .description("revoke an EAB key so it can bind no (further) account")
    .argument("<kid>", "the key id")
    .option("--json", "machine-readable output")
    .action(
      run(async (kid: string, o: JsonFlag, _cmd: Command) => {
        const k = await apiClient(config()).call<EabJson>("DELETE", `/admin/v1/acme/eab/${encodeURIComponent(kid)}`);
        out(o, k, () => process.stdout.write(`revoked EAB key ${k.kid}\n`));
      }),
    );

  const scep = program.command("scep").description("SCEP (RFC 8894): one-time challenges and requests awaiting approval");
  scep
    .command("challenge")
    .description("create a one-time challengePassword for a SCEP provisioner; it is printed once and never again")
    .option("--provisioner <name>", "the SCEP provisioner", "scep")
    .option("--ttl <duration>", "expire the challenge after this long (e.g. 1h, 7d)", "1h")
    .option("--cn <name>", "the only common name the enrolment may ask for")
    .option("--dns <names>", "comma-separated DNS names it may ask for")
    .option("--ip <addresses>", "comma-separated IP addresses it may ask for")
    .option("--identity <id>", "identity recorded on the certificate")
    .option("--node <id>", "node the certificate is issued to (for revoke --node)")
    .option("--roles <roles>", "comma-separated roles the certificate carries")
    .option("--note <text>", "what the challenge is for, kept with it")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & ScepChallengeFlags, _cmd: Command) => {
        const body = {
          provisioner: o.provisioner,
          ttlSeconds: parseDuration(o.ttl, "--ttl"),
          ...(o.cn ? { commonName: o.cn } : {}),
          ...(o.dns ? { dns: commaList(o.dns) } : {}),
          ...(o.ip ? { ip: commaList(o.ip) } : {}),
          ...(o.identity ? { identity: o.identity } : {}),
          ...(o.node ? { nodeId: o.node } : {}),
          ...(o.roles ? { roles: commaList(o.roles) } : {}),
          ...(o.note ? { note: o.note } : {}),
        };
        const c = await apiClient(config()).call<ScepChallengeJson & { challenge: string; url: string }>("POST", "/admin/v1/scep/challenges", body);
        out(o, c, () =>
          process.stdout.write(
            [
              `challenge:   ${c.challenge}`,
              "             (shown once: it is stored only hashed and cannot be displayed again)",
              `url:         ${c.url}`,
              `provisioner: ${c.provisioner}`,
              `expires:     ${c.expiresAt}`,
              `bound to:    ${bindingText(c.binding)}`,
              `id:          ${c.id}`,
              "",
              "single use: give it to one device as its SCEP challengePassword.",
              "",
            ].join("\n"),
          ),
        );
      }),
    );
  scep
    .command("challenges")
    .description("list one-time challenges, newest first (never the secrets)")
    .option("--provisioner <name>", "only this SCEP provisioner's")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { provisioner?: string }, _cmd: Command) => {
        const r = await apiClient(config()).call<{ items: ScepChallengeJson[] }>("GET", `/admin/v1/scep/challenges${o.provisioner ? `?provisioner=${encodeURIComponent(o.provisioner)}` : ""}`);
        out(o, r, () => {
          for (const c of r.items) process.stdout.write(`${c.id}  ${c.provisioner.padEnd(12)} ${c.state.padEnd(8)} expires ${c.expiresAt}  ${bindingText(c.binding)}${c.note ? `  ${c.note}` : ""}\n`);
          if (r.items.length === 0) process.stdout.write("(no SCEP challenges)\n");
        });
      }),
    );
  scep
    .command("pending")
    .description("list SCEP requests awaiting an operator's approval, oldest first")
    .option("--provisioner <name>", "only this SCEP provisioner's")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { provisioner?: string }, _cmd: Command) => {
        const q = new URLSearchParams({ status: "pending" });
        if (o.provisioner) q.set("provisioner", o.provisioner);
        const r = await apiClient(config()).call<{ items: ScepRequestJson[] }>("GET", `/admin/v1/scep/requests?${q}`);
        out(o, r, () => {
          for (const t of r.items) process.stdout.write(`${t.id}  ${t.provisioner.padEnd(12)} ${t.createdAt}  ${t.subject || "(empty subject)"}  ${requestNames(t)}\n`);
          if (r.items.length === 0) process.stdout.write("(no pending SCEP requests)\n");
        });
      }),
    );
  scep
    .command("approve")
    .description("approve a pending SCEP request: the certificate is issued now and sent at the device's next poll")
    .argument("<id>", "the request id (signet scep pending)")
    .option("--json", "machine-readable output")
    .action(
      run(async (id: string, o: JsonFlag, _cmd: Command) => {
        const t = await apiClient(config()).call<ScepRequestJson>("POST", `/admin/v1/scep/requests/${encodeURIComponent(id)}/approve`);
        out(o, t, () => process.stdout.write(`approved SCEP request ${t.id}: certificate ${t.certificateSerial}\n`));
      }),
    );
  scep
    .command("reject")
    .description("reject a pending SCEP request: the device's next poll gets a failure")
    .argument("<id>", "the request id (signet scep pending)")
    .option("--reason <text>", "why (kept with the request)")
    .option("--json", "machine-readable output")
    .action(
      run(async (id: string, o: JsonFlag & { reason?: string }, _cmd: Command) => {
        const t = await apiClient(config()).call<ScepRequestJson>("POST", `/admin/v1/scep/requests/${encodeURIComponent(id)}/reject`, o.reason ? { reason: o.reason } : {});
        out(o, t, () => process.stdout.write(`rejected SCEP request ${t.id}: ${t.reason}\n`));
      }),
    );

  program
    .command("revocations")
    .description("read the live revocation feed: what was revoked after a cursor; --follow keeps listening")
    .option("--since <cursor>", "a cursor printed earlier, 0 for everything, or latest", "0")
    .option("--follow", "keep waiting for new revocations (long poll), printing each as it arrives")
    .option("--limit <n>", "most revocations per request", "1000")
    .option("--json", "one JSON object per line (with --follow) or one document")
    .action(
      run(async (o: JsonFlag & { since: string; follow?: boolean; limit: string }, _cmd: Command) => {
        const api = apiClient(config());
        let since = o.since;
        const print = (items: FeedItemJson[]) => {
          for (const i of items) {
            if (o.json) process.stdout.write(`${JSON.stringify(i)}\n`);
            else process.stdout.write(`${i.cursor.padStart(8)}  ${i.revokedAt}  ${i.serial}  ${i.reason.padEnd(20)} ${i.nodeId ?? "-"}  ${i.spiffeId ?? i.identity ?? ""}\n`);
          }
        };
        if (!o.follow) {
          const r = await api.call<{ items: FeedItemJson[]; cursor: string }>("GET", `/revocations?since=${encodeURIComponent(since)}&limit=${encodeURIComponent(o.limit)}`);
          out(o, r, () => {
            print(r.items);
            process.stdout.write(`cursor ${r.cursor}\n`);
          });
          return;
        }
        for (;;) {
          const r = await api.call<{ items: FeedItemJson[]; cursor: string }>("GET", `/revocations?since=${encodeURIComponent(since)}&limit=${encodeURIComponent(o.limit)}&wait=25`);
          print(r.items);
          since = r.cursor;
        }
      }),
    );

  const audit = program.command("audit").description("the hash-chained audit log");
  audit
    .command("verify")
    .description("verify the audit chain: detects changed and deleted events")
    .option("--local", "open the database directly (the server must be stopped when it uses the embedded database)")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { local?: boolean }, _cmd: Command) => {
        const cfg = config();
        let verdict: { ok: boolean; checked: number; problem?: { seq: string; reason: string } };
        if (o.local) {
          const db = await openDatabaseFor(cfg);
          try {
            const { AuditRepository } = await import("../db/audit.js");
            verdict = await new AuditRepository(db.prisma).verify();
          } finally {
            await db.close();
          }
        } else {
          verdict = await apiClient(cfg).call("GET", "/admin/v1/audit/verify");
        }
        out(o, verdict, () =>
          process.stdout.write(verdict.ok ? `audit chain intact: ${verdict.checked} events\n` : `AUDIT CHAIN BROKEN at event ${verdict.problem?.seq}: ${verdict.problem?.reason}\n`),
        );
        if (!verdict.ok) process.exitCode = 2;
      }),
    );
  audit
    .command("list")
    .description("list audit events in order")
    .option("--after <seq>", "events after this sequence number")
    .option("--event <name>", "only this event name, e.g. certificate.revoked")
    .option("--target <target>", "only events about this target (a serial, a provisioner...)")
    .option("--limit <n>", "how many", "100")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & Record<string, string | undefined>, _cmd: Command) => {
        const q = new URLSearchParams({ limit: o.limit ?? "100" });
        if (o.after) q.set("after", o.after);
        if (o.event) q.set("event", o.event);
        if (o.target) q.set("target", o.target);
        const r = await apiClient(config()).call<{ items: Array<{ seq: string; time: string; event: string; actor: string; target: string | null }> }>("GET", `/admin/v1/audit/events?${q}`);
        out(o, r, () => {
          for (const e of r.items) process.stdout.write(`${e.seq.padStart(6)}  ${e.time}  ${e.event.padEnd(22)} ${e.actor}  ${e.target ?? ""}\n`);
        });
      }),
    );

  const prov = program.command("provisioners").description("manage provisioners");
  prov
    .command("list")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag, _cmd: Command) => {
        const r = await apiClient(config()).call<{ items: Array<Record<string, unknown>> }>("GET", "/admin/v1/provisioners");
        out(o, r, () => {
          for (const p of r.items) process.stdout.write(`${String(p.name).padEnd(24)} ${String(p.type).padEnd(12)} ${String(p.profile).padEnd(14)} default ${p.defaultLifetimeSeconds}s max ${p.maxLifetimeSeconds}s${p.enabled ? "" : " (disabled)"}\n`);
        });
      }),
    );
  prov
    .command("get <name>")
    .option("--json", "machine-readable output")
    .action(
      run(async (name: string, o: JsonFlag, _cmd: Command) => {
        const r = await apiClient(config()).call<Record<string, unknown>>("GET", `/admin/v1/provisioners/${encodeURIComponent(name)}`);
        out(o, r, () => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
      }),
    );
  prov
    .command("put <name>")
    .description("create or replace a provisioner (idempotent) from --file JSON and/or flags")
    .option("--file <file>", "JSON body: {type, profile, defaultLifetimeSeconds, maxLifetimeSeconds, policy, options, enabled}")
    .option("--type <type>", "admin | acme | scep | attestation")
    .option("--profile <profile>", "client | server | client-server")
    .option("--default-ttl <duration>")
    .option("--max-ttl <duration>")
    .option("--disabled", "create it disabled")
    .option("--json", "machine-readable output")
    .action(
      run(async (name: string, o: JsonFlag & Record<string, string | boolean | undefined>, _cmd: Command) => {
        const body: Record<string, unknown> = o.file ? (JSON.parse(readFileSync(o.file as string, "utf8")) as Record<string, unknown>) : {};
        if (o.type) body.type = o.type;
        if (o.profile) body.profile = o.profile;
        if (o.defaultTtl) body.defaultLifetimeSeconds = parseDuration(o.defaultTtl as string, "--default-ttl");
        if (o.maxTtl) body.maxLifetimeSeconds = parseDuration(o.maxTtl as string, "--max-ttl");
        if (o.disabled) body.enabled = false;
        const r = await apiClient(config()).call<Record<string, unknown>>("PUT", `/admin/v1/provisioners/${encodeURIComponent(name)}`, body);
        out(o, r, () => process.stdout.write(`provisioner ${name}: version ${r.version}\n`));
      }),
    );
  prov
    .command("delete <name>")
    .option("--json", "machine-readable output")
    .action(
      run(async (name: string, o: JsonFlag, _cmd: Command) => {
        await apiClient(config()).call("DELETE", `/admin/v1/provisioners/${encodeURIComponent(name)}`);
        out(o, { deleted: name }, () => process.stdout.write(`deleted provisioner ${name}\n`));
      }),
    );

  const token = program.command("token").description("tokens that bootstrap workloads");
  token
    .command("join")
    .description("a one-time join token for a Terraform or Ansible run (attestation evidence); printed once")
    .option("--provisioner <name>", "the attestation provisioner", "attest")
    .option("--ttl <duration>", "expire after this long", "1h")
    .option("--claim <name=value>", "a claim the posture policy reads (repeatable; a,b,c for a list), e.g. identity=web-3 nodeId=vm-3 dns=web-3.internal", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--note <text>", "what the token is for")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { provisioner: string; ttl: string; claim: string[]; note?: string }, _cmd: Command) => {
        const claims: Record<string, string | string[]> = {};
        for (const c of o.claim) {
          const i = c.indexOf("=");
          if (i <= 0) throw new SignetError("bad_request", `--claim ${JSON.stringify(c)} must be name=value`);
          const v = c.slice(i + 1);
          claims[c.slice(0, i)] = ["dns", "ip", "roles"].includes(c.slice(0, i)) || v.includes(",") ? v.split(",").filter(Boolean) : v;
        }
        const t = await apiClient(config()).call<{ id: string; token: string; expiresAt: string; attestUrl: string; claims: Record<string, unknown> }>("POST", "/admin/v1/attestation/join-tokens", {
          provisioner: o.provisioner,
          ttlSeconds: parseDuration(o.ttl, "--ttl"),
          claims,
          ...(o.note ? { note: o.note } : {}),
        });
        out(o, t, () =>
          process.stdout.write(
            [
              `join token: ${t.token}`,
              `(shown once: it is stored only hashed; single use; expires ${t.expiresAt})`,
              `attest:     curl --cacert root.pem -X POST ${t.attestUrl} -H 'content-type: application/json' -d '{"evidence":{"type":"join-token","token":"${t.token}"}}'`,
              "",
            ].join("\n"),
          ),
        );
      }),
    );

  token
    .command("create")
    .description("an access token for the inference proxy, for partners without a client certificate; printed once")
    .requiredOption("--route <name>", "a route the token may call (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .requiredOption("--ttl <duration>", "mandatory expiry, e.g. 30d (at most SIGNET_PROXY_TOKEN_MAX_TTL)")
    .option("--tenant <name>", "the tenant the token acts for")
    .option("--note <text>", "who it is for")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { route: string[]; ttl: string; tenant?: string; note?: string }, _cmd: Command) => {
        const t = await apiClient(config()).call<{ id: string; token: string; routes: string[]; tenant: string | null; expiresAt: string }>("POST", "/admin/v1/proxy/tokens", {
          routes: o.route,
          ttlSeconds: parseDuration(o.ttl, "--ttl"),
          ...(o.tenant ? { tenant: o.tenant } : {}),
          ...(o.note ? { note: o.note } : {}),
        });
        out(o, t, () =>
          process.stdout.write(
            [`access token: ${t.token}`, `id ${t.id}, routes ${t.routes.join(", ")}${t.tenant ? `, tenant ${t.tenant}` : ""}, expires ${t.expiresAt}`, "(shown once: it is stored only hashed)", ""].join("\n"),
          ),
        );
      }),
    );
  token
    .command("list")
    .description("inference proxy access tokens (never their secrets), with last use")
    .option("--all", "also revoked and expired ones")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { all?: boolean }, _cmd: Command) => {
        const r = await apiClient(config()).call<{ items: Array<{ id: string; routes: string[]; tenant: string | null; expiresAt: string; revokedAt: string | null; lastUsedAt: string | null; note: string | null }> }>(
          "GET",
          `/admin/v1/proxy/tokens${o.all ? "?all=true" : ""}`,
        );
        out(o, r, () => {
          for (const t of r.items) process.stdout.write(`${t.id}  ${t.routes.join(",").padEnd(20)} ${(t.tenant ?? "-").padEnd(12)} expires ${t.expiresAt}  ${t.revokedAt ? `revoked ${t.revokedAt}` : `last used ${t.lastUsedAt ?? "never"}`}  ${t.note ?? ""}\n`);
        });
      }),
    );
  token
    .command("revoke <id>")
    .description("revoke an inference proxy access token at once")
    .option("--json", "machine-readable output")
    .action(
      run(async (id: string, o: JsonFlag, _cmd: Command) => {
        const r = await apiClient(config()).call<{ id: string; revokedAt: string }>("POST", `/admin/v1/proxy/tokens/${encodeURIComponent(id)}/revoke`);
        out(o, r, () => process.stdout.write(`revoked ${r.id} at ${r.revokedAt}\n`));
      }),
    );

  const proxy = program
    .command("proxy")
    .description("run the mTLS inference proxy (config file, env overrides; see the README's \"Inference proxy\")")
    .option("--config <file>", "the proxy configuration (JSON; default $SIGNET_HOME/proxy.json if it exists)")
    .option("--workers <n>", "processes sharing the port (default: the config's, else 1)")
    .option("--json", "machine-readable output (logs are always JSON lines)")
    .action(
      run(async (o: JsonFlag & { config?: string; workers?: string }, _cmd: Command) => {
        const cfg = config();
        const log = createLogger(cfg.logLevel);
        const file = o.config ?? (existsSync(join(cfg.home, "proxy.json")) ? join(cfg.home, "proxy.json") : null);
        const env = { ...process.env, ...(o.workers ? { SIGNET_PROXY_WORKERS: o.workers } : {}) };
        const pc = loadProxyConfig(file, { home: cfg.home, httpsPort: cfg.httpsPort, httpPort: cfg.httpPort, proxyPort: cfg.proxyPort, env });
        if (process.env.SIGNET_PROXY_WORKER === "1") {
          runProxyWorker(pc, log);
          return;
        }
        const running = await runProxy(pc, log, { dns: [cfg.publicHost, "localhost"].filter((x, i, a) => a.indexOf(x) === i && !isIP(x)), ip: ["127.0.0.1", ...(isIP(cfg.publicHost) ? [cfg.publicHost] : [])] });
        log.info({ port: running.port, workers: pc.workers, routes: pc.routes.map((r) => r.name) }, "inference proxy listening");
        if (o.json) process.stdout.write(`${JSON.stringify({ port: running.port, workers: pc.workers })}\n`);
        const stop = () => void running.close().finally(() => process.exit(0));
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      }),
    );
  proxy
    .command("verify-log <file>")
    .description("check the hash chains of an inference audit log (every record, every process's chain)")
    .option("--json", "machine-readable output")
    .action(
      run(async (file: string, o: JsonFlag, _cmd: Command) => {
        const r = verifyInferenceLog(readFileSync(file, "utf8"));
        out(o, r, () => process.stdout.write(r.ok ? `ok: ${r.records} records in ${r.chains} chains\n` : `BROKEN: ${r.problem} (after ${r.records} good records)\n`));
        if (!r.ok) process.exitCode = 1;
      }),
    );

  const policy = program.command("policy").description("name policies (authority-wide, or a provisioner's with --provisioner)");
  policy
    .command("test <evidenceFile>")
    .description("the posture decision for evidence in a file (a JWT, or JSON {type, token}), and why; nothing is spent or issued")
    .option("--provisioner <name>", "the attestation provisioner", "attest")
    .option("--type <type>", "evidence type when the file holds a bare token: posture, kubernetes or join-token", "posture")
    .option("--json", "machine-readable output")
    .action(
      run(async (file: string, o: JsonFlag & { provisioner: string; type: string }, _cmd: Command) => {
        const text = readFileSync(file, "utf8").trim();
        const evidence = text.startsWith("{") ? (JSON.parse(text) as { type: string; token: string }) : { type: o.type, token: text };
        const r = await apiClient(config()).call<{ evidence: { type: string; subject: string; nodeId: string | null; digest: string }; decision: { allow: boolean }; explanation: string[] }>(
          "POST",
          "/admin/v1/attestation/test",
          { provisioner: o.provisioner, evidence },
        );
        out(o, r, () =>
          process.stdout.write(
            [`evidence: ${r.evidence.type} for ${r.evidence.subject}${r.evidence.nodeId ? ` on node ${r.evidence.nodeId}` : ""} (sha256 ${r.evidence.digest.slice(0, 16)}…)`, ...r.explanation, ""].join("\n"),
          ),
        );
        if (!r.decision.allow) process.exitCode = 3;
      }),
    );
  policy
    .command("get")
    .option("--provisioner <name>")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { provisioner?: string }, _cmd: Command) => {
        const path = o.provisioner ? `/admin/v1/provisioners/${encodeURIComponent(o.provisioner)}/policy` : "/admin/v1/policy";
        const r = await apiClient(config()).call<unknown>("GET", path);
        out(o, r, () => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
      }),
    );
  policy
    .command("set")
    .requiredOption("--file <file>", 'JSON policy: {"allow": {"dns": [...], "ip": [...], "uri": [...], "email": [...]}, "deny": {...}}')
    .option("--provisioner <name>")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { provisioner?: string; file: string }, _cmd: Command) => {
        const body = JSON.parse(readFileSync(o.file, "utf8")) as unknown;
        const path = o.provisioner ? `/admin/v1/provisioners/${encodeURIComponent(o.provisioner)}/policy` : "/admin/v1/policy";
        const r = await apiClient(config()).call<{ version: number }>("PUT", path, body);
        out(o, r, () => process.stdout.write(`policy saved (version ${r.version})\n`));
      }),
    );

  const tokens = program.command("admin-token").description("admin API tokens");
  tokens
    .command("create")
    .requiredOption("--name <name>")
    .option("--ttl <duration>", "lifetime (default SIGNET_ADMIN_TOKEN_TTL)")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { name: string; ttl?: string }, _cmd: Command) => {
        const r = await apiClient(config()).call<{ token: string; info: Record<string, unknown> }>("POST", "/admin/v1/admin-tokens", {
          name: o.name,
          ...(o.ttl ? { ttlSeconds: parseDuration(o.ttl, "--ttl") } : {}),
        });
        out(o, r, () => process.stdout.write(`${r.token}\n`));
      }),
    );
  tokens
    .command("list")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag, _cmd: Command) => {
        const r = await apiClient(config()).call<{ items: Array<Record<string, unknown>> }>("GET", "/admin/v1/admin-tokens");
        out(o, r, () => {
          for (const t of r.items) process.stdout.write(`${t.id}  ${String(t.name).padEnd(20)} expires ${t.expiresAt}${t.revokedAt ? " REVOKED" : ""}\n`);
        });
      }),
    );
  tokens
    .command("revoke <id>")
    .option("--json", "machine-readable output")
    .action(
      run(async (id: string, o: JsonFlag, _cmd: Command) => {
        await apiClient(config()).call("DELETE", `/admin/v1/admin-tokens/${encodeURIComponent(id)}`);
        out(o, { revoked: id }, () => process.stdout.write(`revoked admin token ${id}\n`));
      }),
    );

  const ca = program.command("ca").description("the CA itself");
  ca
    .command("info")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag, _cmd: Command) => {
        const r = await apiClient(config()).call<Record<string, Record<string, unknown>>>("GET", "/admin/v1/ca");
        out(o, r, () => {
          for (const k of ["root", "intermediate"]) {
            const c = r[k]!;
            process.stdout.write(`${k.padEnd(13)} ${c.subject}  until ${c.notAfter}  key ${c.keyOnline ? "online" : "OFFLINE"}  id ${c.id}\n`);
          }
        });
      }),
    );
  ca
    .command("export-root-key")
    .description("write the root key as encrypted PKCS#8 for offline storage; with --remove, delete it from this server")
    .requiredOption("--out <file>", "where to write it (must not exist)")
    .option("--passphrase-file <file>", `passphrase for the exported file, not the CA passphrase (or set ${ROOT_EXPORT_PASSPHRASE_ENV})`)
    .option("--remove", "remove the root key from $SIGNET_HOME afterwards (the intermediate keeps issuing; restart the server)")
    .option("--json", "machine-readable output")
    .action(
      run(async (o: JsonFlag & { out: string; passphraseFile?: string; remove?: boolean }, _cmd: Command) => {
        const cfg = config();
        const { passphrase } = resolvePassphrase(cfg.home, process.env);
        const exportPassphrase = resolveRootExportPassphrase(process.env, {
          file: o.passphraseFile,
          flag: "--passphrase-file",
          caPassphrase: passphrase,
        });
        await loadCa(cfg.home, passphrase); // fails early on a wrong passphrase
        // Recorded in ca.json (rootKeyExports): the server audits it at its next start.
        await exportRootKey(cfg.home, passphrase, { outFile: o.out, exportPassphrase, remove: Boolean(o.remove) });
        out(o, { exported: o.out, removed: Boolean(o.remove) }, () =>
          process.stdout.write(`root key written to ${o.out}${o.remove ? "; removed from this server (restart signet to drop it from memory)" : ""}\n`),
        );
      }),
    );

  return program;
}

function nonNegativeInt(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) throw new SignetError("bad_request", `${flag} must be a non-negative integer`);
  return Number(v);
}

function derFromFile(path: string): Buffer {
  return derOrPem(readFileSync(path), ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}

type BlockFlags = { node?: string; identity?: string; account?: string };

interface BlockJson {
  kind: string;
  value: string;
  reason: string;
  createdBy: string;
  createdAt: string;
}

interface FeedItemJson {
  cursor: string;
  serial: string;
  revokedAt: string;
  reason: string;
  nodeId: string | null;
  identity: string | null;
  spiffeId: string | null;
}

/** The one of --node, --identity, --account given (required: one must be). */
function blockTarget(o: BlockFlags, required: boolean): { kind: "node" | "identity" | "account"; value: string } | null {
  const given = (["node", "identity", "account"] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) throw new SignetError("bad_request", `give only one of --node, --identity, --account (got ${given.map((k) => `--${k}`).join(", ")})`);
  if (given.length === 0) {
    if (required) throw new SignetError("bad_request", "give one of --node, --identity, --account");
    return null;
  }
  return { kind: given[0]!, value: o[given[0]!]! };
}

interface EabJson {
  kid: string;
  provisioner: string;
  state: string;
  singleUse: boolean;
  note: string | null;
  createdAt: string;
  expiresAt: string | null;
  accountId: string | null;
}

interface ScepChallengeFlags {
  provisioner: string;
  ttl: string;
  cn?: string;
  dns?: string;
  ip?: string;
  identity?: string;
  node?: string;
  roles?: string;
  note?: string;
}

interface ScepBindingJson {
  commonName?: string;
  dns?: string[];
  ip?: string[];
  identity?: string;
  nodeId?: string;
  roles?: string[];
}

interface ScepChallengeJson {
  id: string;
  provisioner: string;
  state: string;
  binding: ScepBindingJson;
  note: string | null;
  expiresAt: string;
}

interface ScepRequestJson {
  id: string;
  provisioner: string;
  status: string;
  subject: string;
  names: { dns: string[]; ip: string[] };
  reason: string | null;
  certificateSerial: string | null;
  createdAt: string;
}

function commaList(v: string): string[] {
  return v.split(",").map((x) => x.trim()).filter(Boolean);
}

function bindingText(b: ScepBindingJson): string {
  const parts = [
    ...(b.commonName !== undefined ? [`CN=${b.commonName}`] : []),
    ...(b.dns ?? []).map((n) => `DNS:${n}`),
    ...(b.ip ?? []).map((n) => `IP:${n}`),
    ...(b.identity !== undefined ? [`identity ${b.identity}`] : []),
    ...(b.nodeId !== undefined ? [`node ${b.nodeId}`] : []),
    ...(b.roles?.length ? [`roles ${b.roles.join(",")}`] : []),
  ];
  return parts.join(", ") || "(anything the provisioner's policy allows)";
}

function requestNames(t: ScepRequestJson): string {
  return [...t.names.dns.map((n) => `DNS:${n}`), ...t.names.ip.map((n) => `IP:${n}`)].join(", ");
}

/** `signet serve`'s proxy: the operator's proxy.json, or the demo route (one process). */
async function startServeProxy(cfg: Config, log: ReturnType<typeof createLogger>): Promise<{ close(): Promise<void> }> {
  const file = join(cfg.home, "proxy.json");
  const env = { home: cfg.home, httpsPort: cfg.httpsPort, httpPort: cfg.httpPort, proxyPort: cfg.proxyPort, env: { ...process.env, SIGNET_PROXY_WORKERS: "1" } };
  let demo: DemoUpstream | null = null;
  let pc;
  if (existsSync(file)) pc = loadProxyConfig(file, env);
  else {
    demo = await startDemoUpstream({ name: "demo" });
    pc = parseProxyConfig(
      {
        upstreams: { demo: { targets: [demo.url], healthCheck: { path: "/health", intervalMs: 5000 } } },
        routes: [{ name: "demo", pathPrefix: "/v1/", upstream: "demo", auth: ["mtls", "token"], contextWindow: 8192 }],
        limits: { identity: { requestsPerMinute: 600, tokensPerMinute: 200000 } },
        auditFile: "logs/inference.log",
      },
      env,
    );
  }
  const running = await startProxy(pc, log, { names: { dns: [cfg.publicHost, "localhost"].filter((x, i, a) => a.indexOf(x) === i && !isIP(x)), ip: ["127.0.0.1"] } });
  log.info({ port: running.port, demo: demo !== null, routes: pc.routes.map((r) => r.name) }, "inference proxy listening");
  return {
    async close() {
      await running.close();
      await demo?.close();
    },
  };
}
