// The SCEP registration authority credential: an RSA key (SCEP clients encrypt to it and verify its
// signatures) with a certificate from the intermediate, issued through the pipeline like Signet's
// other own certificates. Every replica on one database shares it: the key is sealed under a key
// derived from the intermediate CA key and kept in scep_ra_keys. A new one is issued when the newest
// has a third of its life left; older ones keep decrypting requests from clients that cached them.
import { createPrivateKey, hkdfSync, type KeyObject } from "node:crypto";
import type { Logger } from "pino";
import { SecretBox } from "../../ca/keys/secret-box.js";
import { parseCertificate, type CertificateInfo } from "../../ca/x509/index.js";
import type { Authority } from "../../ca/authority.js";
import type { ScepStore } from "../../scep/ports.js";
import type { RaCredential, RaSource } from "../../scep/index.js";
import { issueOwnCertificate } from "../server/tls.js";

export interface RaKeysOptions {
  lifetimeSeconds: number;
  /** How often each replica re-reads the table (another replica may have rotated). */
  refreshMs?: number;
}

export class RaKeys implements RaSource {
  #credentials: RaCredential[] = [];
  #timer: NodeJS.Timeout | null = null;
  #lastReload = 0;
  #rotating: Promise<void> | null = null;
  readonly #box: SecretBox;

  constructor(
    private readonly store: ScepStore,
    private readonly authority: Authority,
    sealingKey: Buffer,
    private readonly log: Logger,
    private readonly opts: RaKeysOptions,
  ) {
    this.#box = new SecretBox(sealingKey);
  }

  /** Loads the credentials and issues the first (or the next) when needed; then refreshes on a timer. */
  async start(): Promise<void> {
    await this.reload();
    await this.#rotateIfDue();
    const every = this.opts.refreshMs ?? 10 * 60_000;
    this.#timer = setInterval(() => {
      void this.reload()
        .then(() => this.#rotateIfDue())
        .catch((err: unknown) => this.log.error({ err }, "refreshing the SCEP RA credential failed"));
    }, every);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** The newest unexpired credential: what GetCACert hands out and what signs answers. */
  current(): RaCredential {
    const c = this.#credentials[0];
    if (!c) throw new Error("the SCEP RA credential is not loaded");
    return c;
  }

  all(): readonly RaCredential[] {
    return this.#credentials;
  }

  /** Re-reads the table at most once a second (a request addressed to an RA this replica has not
   * seen yet triggers it). */
  async reloadSoon(): Promise<void> {
    if (Date.now() - this.#lastReload < 1000) return;
    await this.reload();
  }

  async reload(): Promise<void> {
    this.#lastReload = Date.now();
    const now = Date.now();
    const rows = await this.store.raKeys();
    const out: RaCredential[] = [];
    for (const r of rows) {
      if (r.notAfter.getTime() <= now) continue;
      const known = this.#credentials.find((c) => c.id === r.id);
      if (known) {
        out.push(known);
        continue;
      }
      const pkcs8 = this.#box.open(r.id, r.keyCiphertext);
      if (!pkcs8) {
        this.log.error({ id: r.id }, "a SCEP RA key does not open with this CA key; skipped");
        continue;
      }
      out.push(credential(r.id, r.certDer, createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })));
    }
    out.sort((a, b) => b.info.notBefore.getTime() - a.info.notBefore.getTime());
    this.#credentials = out;
  }

  #rotateIfDue(): Promise<void> {
    const c = this.#credentials[0];
    if (c) {
      const life = c.info.notAfter.getTime() - c.info.notBefore.getTime();
      if (Date.now() < c.info.notBefore.getTime() + (life * 2) / 3) return Promise.resolve();
    }
    this.#rotating ??= this.#issue().finally(() => (this.#rotating = null));
    return this.#rotating;
  }

  async #issue(): Promise<void> {
    const { privateKey, issued } = await issueOwnCertificate(this.authority, {
      keyAlgorithm: "RSA-2048",
      commonName: "Signet SCEP RA",
      profile: "scep-ra",
      lifetimeSeconds: this.opts.lifetimeSeconds,
      identity: "signet:scep-ra",
      actor: "system:scep-ra",
    });
    const info = parseCertificate(issued.der);
    const id = info.serialHex;
    const sealed = this.#box.seal(id, privateKey.export({ format: "der", type: "pkcs8" }));
    await this.store.addRaKey({ id, certDer: issued.der, keyCiphertext: sealed, notAfter: issued.notAfter });
    this.log.info({ serial: id, notAfter: issued.notAfter }, "issued the SCEP RA certificate");
    await this.reload();
  }
}

function credential(id: string, certDer: Buffer, key: KeyObject): RaCredential {
  const info: CertificateInfo = parseCertificate(certDer);
  // Implicit rejection needs a secret per key that no client sees: derived from the key itself.
  const rejectionSecret = Buffer.from(hkdfSync("sha256", key.export({ format: "der", type: "pkcs8" }), "signet", "signet scep implicit rejection v1", 32));
  return { id, certDer, info, key, rejectionSecret };
}
