// CA key generation and the allow-list every CA key, generated or imported, must pass.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { SignetError } from "../errors.js";
import { CA_KEY_ALGORITHMS, type KeyAlgorithm } from "../signer.js";

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

const RSA_BITS = { "RSA-2048": 2048, "RSA-3072": 3072, "RSA-4096": 4096 } as const;
const EC_CURVES = { prime256v1: "P-256", secp384r1: "P-384" } as const;

export function isKeyAlgorithm(value: unknown): value is KeyAlgorithm {
  return typeof value === "string" && (CA_KEY_ALGORITHMS as readonly string[]).includes(value);
}

/** Generates a CA key pair. RSA-4096 takes a second or more: this blocks the event loop, which is
 * acceptable for the rare CA operations that call it. */
export function generateKeyPair(alg: KeyAlgorithm): KeyPair {
  switch (alg) {
    case "P-256":
      return generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    case "P-384":
      return generateKeyPairSync("ec", { namedCurve: "secp384r1" });
    case "Ed25519":
      return generateKeyPairSync("ed25519");
    case "RSA-2048":
    case "RSA-3072":
    case "RSA-4096":
      return generateKeyPairSync("rsa", { modulusLength: RSA_BITS[alg], publicExponent: 65537 });
    default:
      throw new SignetError("forbidden_key", `unsupported key algorithm ${JSON.stringify(alg)}`);
  }
}

/** The KeyAlgorithm of a public or private key; anything outside the allow-list is forbidden_key. */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  if (key.type === "secret") throw new SignetError("forbidden_key", "a secret key is not an asymmetric CA key");
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec": {
      const curve = details.namedCurve;
      if (curve !== undefined && curve in EC_CURVES) return EC_CURVES[curve as keyof typeof EC_CURVES];
      throw new SignetError("forbidden_key", `EC curve ${curve ?? "(unnamed)"} is not allowed; use P-256 or P-384`);
    }
    case "ed25519":
      return "Ed25519";
    case "rsa": {
      const bits = details.modulusLength;
      // Only the exponent every mainstream toolkit uses: small exponents invite implementation bugs.
      if (details.publicExponent !== 65537n) {
        throw new SignetError("forbidden_key", "RSA keys must use the public exponent 65537");
      }
      if (bits === 2048) return "RSA-2048";
      if (bits === 3072) return "RSA-3072";
      if (bits === 4096) return "RSA-4096";
      throw new SignetError("forbidden_key", `RSA-${bits ?? "?"} is not allowed; use RSA-2048, RSA-3072 or RSA-4096`);
    }
    default:
      throw new SignetError(
        "forbidden_key",
        `${key.asymmetricKeyType ?? "unknown"} keys are not allowed; use ${CA_KEY_ALGORITHMS.join(", ")}`,
      );
  }
}
