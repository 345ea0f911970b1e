// Authenticated encryption for secrets Signet must be able to use again (so cannot hash), kept in
// the database that every replica shares.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const IV = 12;
const TAG = 16;

/** AES-256-GCM under a 32-byte key, each sealed value bound to an id (the AAD) so a stored row
 * cannot be moved to another: EAB HMAC keys, the SCEP RA key. */
export class SecretBox {
  readonly #key: Buffer;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error("a SecretBox key must be 32 bytes");
    this.#key = key;
  }

  seal(id: string, secret: Buffer): Buffer {
    const iv = randomBytes(IV);
    const c = createCipheriv("aes-256-gcm", this.#key, iv);
    c.setAAD(Buffer.from(id, "utf8"));
    const ct = Buffer.concat([c.update(secret), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), ct]);
  }

  /** null when the ciphertext does not open (another CA key, or tampering). */
  open(id: string, sealed: Buffer): Buffer | null {
    if (sealed.length <= IV + TAG) return null;
    try {
      const d = createDecipheriv("aes-256-gcm", this.#key, sealed.subarray(0, IV));
      d.setAAD(Buffer.from(id, "utf8"));
      d.setAuthTag(sealed.subarray(IV, IV + TAG));
      return Buffer.concat([d.update(sealed.subarray(IV + TAG)), d.final()]);
    } catch {
      return null;
    }
  }
}
