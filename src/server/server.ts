// `signet serve`: load (or on first start, create) the CA, open the database, issue the HTTPS
// port's certificate, and serve both ports until SIGINT/SIGTERM.
import type { FastifyInstance } from "fastify";
import type { Server as HttpsServer } from "node:https";
import type { Logger } from "pino";
import { adminTokenPath, bootstrapDatabase, prepareCa } from "../bootstrap.js";
import type { Config } from "../config.js";
import { caFiles } from "../home/ca-files.js";
import { openServices, type Services } from "../services.js";
import { buildHttpApp } from "./http-app.js";
import { buildHttpsApp, TLS_OPTIONS } from "./https-app.js";
import { ensureSystemProvisioner, issueServerTls } from "./tls.js";
import { RevocationService } from "../revocation/service.js";
import { ChallengeValidator, ValidationRunner } from "../../acme/index.js";
import { ensureAcmeProvisioner, ensureAttestationProvisioner, ensureScepProvisioner } from "../bootstrap.js";

const ABANDONED_AFTER_SECONDS = 600;

export interface RunningServer {
  services: Services;
  revocation: RevocationService;
  https: FastifyInstance;
  http: FastifyInstance;
  httpsPort: number;
  httpPort: number;
  close(): Promise<void>;
}

export async function startServer(cfg: Config, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const prepared = await prepareCa(cfg, log, env, { zeroConfig: true });
  const s = await openServices(cfg, log, prepared.ca);
  let https: FastifyInstance | undefined;
  let http: FastifyInstance | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  let rev: RevocationService | undefined;
  let validations: ValidationRunner | undefined;
  let purgeTimer: NodeJS.Timeout | undefined;
  try {
    const { adminTokenFile } = await bootstrapDatabase(s, prepared.created);
    await ensureSystemProvisioner(s);
    await ensureAcmeProvisioner(s, prepared.created);
    await ensureScepProvisioner(s);
    await ensureAttestationProvisioner(s);
    // An intent older than any request can take belongs to a process that stopped mid-issuance.
    const abandoned = await s.journal.sweepAbandoned(ABANDONED_AFTER_SECONDS);
    if (abandoned.length > 0) log.warn({ serials: abandoned }, "marked abandoned certificate intents as failed");
    let { tls, issued } = await issueServerTls(s);
    // CRLs generated and the OCSP responder certificate issued before the ports open.
    rev = new RevocationService(s);
    await rev.start();
    const revocation = rev;
    s.scepCrl.source = (id) => revocation.crls.current(id, "full")?.der ?? null;
    await s.scep.ra.start();
    let ready = false;
    validations = new ValidationRunner(
      s.acme.store,
      new ChallengeValidator({ http01Port: cfg.acmeHttp01Port, tlsAlpn01Port: cfg.acmeTlsAlpn01Port, resolvers: cfg.acmeResolvers, timeoutMs: cfg.acmeValidationTimeoutMs }),
      { attempts: cfg.acmeValidationAttempts, retryDelayMs: cfg.acmeValidationRetryMs },
      log.child({ component: "acme-validation" }),
    );
    https = await buildHttpsApp(s, tls, () => ready, rev, validations);
    http = await buildHttpApp(s, () => ready, rev);
    await https.listen({ port: cfg.httpsPort, host: cfg.listenHost });
    await http.listen({ port: cfg.httpPort, host: cfg.listenHost });
    ready = true;

    const httpsServer = https.server as HttpsServer;
    const RETRY_MS = 5 * 60_000;
    const scheduleRenewal = (retrying = false) => {
      const life = issued.notAfter.getTime() - issued.notBefore.getTime();
      const at = issued.notBefore.getTime() + (life * 2) / 3;
      // setTimeout holds at most ~24.8 days; re-check at least daily. After a failure, 5 minutes.
      const delay = retrying ? RETRY_MS : Math.min(Math.max(at - Date.now(), 1_000), 86_400_000);
      renewTimer = setTimeout(() => {
        if (Date.now() < at) return scheduleRenewal();
        issueServerTls(s)
          .then((next) => {
            ({ tls, issued } = next);
            httpsServer.setSecureContext({ ...TLS_OPTIONS, key: tls.key, cert: tls.cert, ca: tls.ca });
            log.info({ serial: issued.serialHex, notAfter: issued.notAfter }, "renewed the HTTPS certificate");
            if (renewTimer) scheduleRenewal();
          })
          .catch((err: unknown) => {
            log.error({ err }, "could not renew the HTTPS certificate; retrying in 5 minutes");
            if (renewTimer) scheduleRenewal(true);
          });
      }, delay);
      renewTimer.unref();
    };
    scheduleRenewal();
    // Used nonces are kept only until they would have expired anyway.
    // Validations and finalizations abandoned by a replica that stopped end after they could have
    // finished: attempts × (timeout + retry delays), plus a minute.
    const maxValidationMs = cfg.acmeValidationAttempts * (cfg.acmeValidationTimeoutMs + cfg.acmeValidationRetryMs * cfg.acmeValidationAttempts) + 60_000;
    const runningValidations = validations;
    purgeTimer = setInterval(() => {
      // A minute behind: a replica whose clock lags (check() allows 5 s) must still find the row.
      s.acme.store.purgeNonces(new Date(Date.now() - 60_000)).catch((err: unknown) => log.warn({ err }, "could not purge used ACME nonces"));
      s.attestation.purgeUsedIds(new Date(Date.now() - 60_000)).catch((err: unknown) => log.warn({ err }, "could not purge spent attestation evidence ids"));
      // Orders and authorizations are kept a week past their expiry (for clients and operators
      // looking back), then deleted; certificates and the audit log keep the lasting record.
      s.acme.store.purgeExpired(new Date(Date.now() - 7 * 86_400_000)).catch((err: unknown) => log.warn({ err }, "could not purge expired ACME orders"));
      runningValidations
        .sweep(maxValidationMs)
        .then((r) => (r.validations + r.orders > 0 ? log.warn(r, "ended ACME validations and orders abandoned by a stopped server") : undefined))
        .catch((err: unknown) => log.warn({ err }, "could not sweep abandoned ACME validations"));
    }, 60_000);
    purgeTimer.unref();

    const httpsPort = (https.server.address() as { port: number }).port;
    const httpPort = (http.server.address() as { port: number }).port;
    const files = caFiles(cfg.home);
    log.info(
      {
        event: "server.started",
        https: `https://${cfg.publicHost}:${httpsPort}`,
        http: `http://${cfg.publicHost}:${httpPort}`,
        rootCertificate: files.rootCert,
        database: s.db.kind,
      },
      "signet is serving",
    );
    process.stderr.write(
      [
        "",
        `Signet is serving (database: ${s.db.kind === "pglite" ? `embedded PGlite in ${cfg.home}/db` : "PostgreSQL"}).`,
        `  Admin API (HTTPS):     https://${cfg.publicHost}:${httpsPort}/admin/v1   (OpenAPI: /admin/openapi.json)`,
        `  ACME directory:        https://${cfg.publicHost}:${httpsPort}/acme/acme/directory`,
        `  CA certificates (HTTP): http://${cfg.publicHost}:${httpPort}/roots.pem  /intermediates.pem`,
        `  Root certificate:      ${files.rootCert}`,
        adminTokenFile
          ? `  Admin token:           written once to ${adminTokenFile} (mode 0600); the CLI reads it from there`
          : `  Admin token:           ${adminTokenPath(cfg.home)} (or create one: signet admin-token create)`,
        "",
      ].join("\n") + "\n",
    );

    const runningHttps = https;
    const runningHttp = http;
    const runningRev = rev;
    return {
      services: s,
      revocation: runningRev,
      https: runningHttps,
      http: runningHttp,
      httpsPort,
      httpPort,
      async close() {
        if (renewTimer) clearTimeout(renewTimer);
        renewTimer = undefined;
        if (purgeTimer) clearInterval(purgeTimer);
        await Promise.allSettled([runningHttps.close(), runningHttp.close()]);
        await runningValidations.close();
        await runningRev.stop();
        await s.close();
      },
    };
  } catch (err) {
    if (renewTimer) clearTimeout(renewTimer);
    if (purgeTimer) clearInterval(purgeTimer);
    await Promise.allSettled([https?.close(), http?.close()]);
    await validations?.close();
    await rev?.stop();
    await s.close();
    throw err;
  }
}
