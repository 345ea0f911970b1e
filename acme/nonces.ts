// Replay nonces (RFC 8555 §6.5) that any replica can check. A nonce is
//   issue time (6 bytes, ms) ‖ random (10 bytes) ‖ HMAC-SHA256 of both, truncated to 12 bytes
// under a key every replica derives from the shared intermediate CA key. Issuing one costs an HMAC and
// no storage; checking one costs an HMAC, a clock comparison and one INSERT into the used-nonce table,
// whose primary key is what makes a nonce good exactly once across all replicas.
import { createHmac, randomFillSync, timingSafeEqual } from "node:crypto";

const TIME_BYTES = 6;
const RANDOM_BYTES = 10;
const MAC_BYTES = 12;
const BODY = TIME_BYTES + RANDOM_BYTES;
const TOTAL = BODY + MAC_BYTES;
/** base64url of 28 bytes: 38 characters, no padding. */
const ENCODED_LENGTH = Math.ceil((TOTAL * 4) / 3);

export interface UsedNonceStore {
  /** Records the nonce as used; false if it already was. */
  consumeNonce(nonce: string, expiresAt: Date): Promise<boolean>;
}

export class NonceService {
  readonly #key: Buffer;
  readonly #lifetimeMs: number;
  readonly #store: UsedNonceStore;
  readonly #clock: () => number;
  // Randomness drawn in blocks: one getrandom call per 400 nonces instead of one each.
  readonly #pool = Buffer.alloc(RANDOM_BYTES * 400);
  #poolOffset = this.#pool.length;

  constructor(key: Buffer, store: UsedNonceStore, opts: { lifetimeSeconds: number; clock?: () => number }) {
    if (key.length < 32) throw new Error("the nonce key must be at least 32 bytes");
    this.#key = key;
    this.#store = store;
    this.#lifetimeMs = opts.lifetimeSeconds * 1000;
    this.#clock = opts.clock ?? Date.now;
  }

  issue(): string {
    const buf = Buffer.allocUnsafe(TOTAL);
    buf.writeUIntBE(this.#clock(), 0, TIME_BYTES);
    if (this.#poolOffset === this.#pool.length) {
      randomFillSync(this.#pool);
      this.#poolOffset = 0;
    }
    this.#pool.copy(buf, TIME_BYTES, this.#poolOffset, this.#poolOffset + RANDOM_BYTES);
    this.#poolOffset += RANDOM_BYTES;
    this.#mac(buf).copy(buf, BODY, 0, MAC_BYTES);
    return buf.toString("base64url");
  }

  /** Spends a nonce `check` has accepted (its expiry is what check returned). */
  spend(nonce: string, expiresAt: Date): Promise<boolean> {
    return this.#store.consumeNonce(nonce, expiresAt);
  }

  /** Checks form, MAC and age without storage: the expiry time, or why the nonce is refused. */
  check(nonce: string | undefined): Date | string {
    if (nonce === undefined) return "the JWS protected header has no nonce";
    if (nonce.length !== ENCODED_LENGTH || !/^[A-Za-z0-9_-]+$/.test(nonce)) return "the nonce was not issued by this server";
    const buf = Buffer.from(nonce, "base64url");
    // One spelling per nonce: base64url's spare bits could otherwise give one nonce several strings,
    // and the used-nonce table is keyed by the string.
    if (buf.length !== TOTAL || buf.toString("base64url") !== nonce || !timingSafeEqual(this.#mac(buf).subarray(0, MAC_BYTES), buf.subarray(BODY))) return "the nonce was not issued by this server";
    const issued = buf.readUIntBE(0, TIME_BYTES);
    const now = this.#clock();
    // A little slack for replicas whose clocks differ.
    if (issued > now + 5_000) return "the nonce was not issued by this server";
    if (now - issued > this.#lifetimeMs) return "the nonce has expired";
    return new Date(issued + this.#lifetimeMs);
  }

  #mac(buf: Buffer): Buffer {
    return createHmac("sha256", this.#key).update(buf.subarray(0, BODY)).digest();
  }
}
