// Which subject keys Signet certifies. The list is short on purpose: every key type here is one that
// every TLS stack Signet's workloads use can verify, and nothing weaker than ~112-bit security.
import { SignetError } from "../errors.js";
import type { DescribedPublicKey } from "./spki.js";

export const ALLOWED_KEYS_TEXT = "RSA 2048-8192 bits (exponent odd and >= 65537), EC P-256 or P-384, or Ed25519";

const MIN_RSA_BITS = 2048;
// Above 8192 bits verification cost becomes a denial-of-service lever, and no client needs it.
const MAX_RSA_BITS = 8192;

function refuse(found: string, why?: string): never {
  throw new SignetError(
    "forbidden_key",
    `public key ${found} is not allowed${why ? ` (${why})` : ""}; allowed: ${ALLOWED_KEYS_TEXT}`,
    { detail: { key: found } },
  );
}

/** Throws SignetError("forbidden_key") unless the key is on the allow-list. */
export function assertKeyAllowed(key: DescribedPublicKey): void {
  switch (key.type) {
    case "ec":
      if (key.curve === "P-256" || key.curve === "P-384") return;
      return refuse(key.name);
    case "ed25519":
      return;
    case "rsa": {
      const bits = key.bits ?? 0;
      if (bits < MIN_RSA_BITS) refuse(key.name, `RSA keys need at least ${MIN_RSA_BITS} bits`);
      if (bits > MAX_RSA_BITS) refuse(key.name, `RSA keys may have at most ${MAX_RSA_BITS} bits`);
      const e = key.publicExponent;
      // e = 3 is the classic Bleichenbacher-signature-forgery footgun; an even e is not RSA at all.
      if (e === undefined || e < 65537n || e % 2n === 0n) refuse(key.name, `public exponent ${String(e)} is not allowed`);
      return;
    }
    default:
      refuse(key.name);
  }
}
