// PEM (RFC 7468) in and out. Decoding is strict about the base64 because Buffer.from(..., "base64")
// silently skips junk, which would let a damaged file decode into different DER.
import { SignetError } from "../errors.js";

const LABEL = String.raw`[\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*`;
const BLOCK = new RegExp(String.raw`-----BEGIN (${LABEL})?-----([\s\S]*?)-----END (${LABEL})?-----`, "g");
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodeBase64Strict(text: string, what: string): Buffer {
  const b64 = text.replace(/[ \t\r\n]+/g, "");
  if (b64.length === 0) throw new SignetError("bad_pem", `${what} is empty`);
  if (BASE64.test(b64)) {
    if (b64.length % 4 !== 0) throw new SignetError("bad_pem", `${what}: base64 length is not a multiple of 4`);
    return Buffer.from(b64, "base64");
  }
  // ACME (RFC 8555 §7.4) carries the CSR as unpadded base64url.
  if (BASE64URL.test(b64)) {
    if (b64.length % 4 === 1) throw new SignetError("bad_pem", `${what}: base64url length is impossible`);
    return Buffer.from(b64, "base64url");
  }
  throw new SignetError("bad_pem", `${what} contains characters that are not base64`);
}

/** Every PEM block in `text`, in order. Each label must be one of `expectedLabels`; text outside the
 * blocks (e.g. OpenSSL's "subject=" lines) is ignored, as RFC 7468 §2 allows. */
export function pemDecode(text: string, expectedLabels: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const label = m[1] ?? "";
    if ((m[3] ?? "") !== label)
      throw new SignetError("bad_pem", `PEM block "BEGIN ${label}" ends with "END ${m[3] ?? ""}"`);
    if (!expectedLabels.includes(label))
      throw new SignetError("bad_pem", `expected a PEM ${expectedLabels.join(" or ")} block, found "${label}"`, {
        detail: { label },
      });
    const body = m[2] ?? "";
    if (body.includes(":"))
      throw new SignetError("bad_pem", `PEM ${label} block has RFC 1421 headers (an encrypted key?), which are not supported`);
    out.push(decodeBase64Strict(body, `PEM ${label} block`));
  }
  if (out.length === 0) {
    if (text.includes("-----BEGIN")) throw new SignetError("bad_pem", "malformed PEM: BEGIN line without a matching END line");
    throw new SignetError("bad_pem", `no PEM ${expectedLabels.join(" or ")} block found`);
  }
  return out;
}

/** PEM text with 64-column base64 lines and a trailing newline. */
export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + "\n";
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** Accepts raw DER (a Buffer starting with a SEQUENCE), PEM text, or base64/base64url DER text,
 * and returns the single DER object in it. */
export function derOrPem(input: string | Buffer, labels: readonly string[]): Buffer {
  let text: string;
  if (Buffer.isBuffer(input)) {
    if (input.length > 0 && input[0] === 0x30) return input;
    text = input.toString("latin1");
  } else {
    text = input;
  }
  if (text.includes("-----BEGIN")) {
    const blocks = pemDecode(text, labels);
    if (blocks.length !== 1) throw new SignetError("bad_pem", `expected one PEM block, found ${blocks.length}`);
    return blocks[0]!;
  }
  const der = decodeBase64Strict(text, "base64 DER input");
  if (der[0] !== 0x30) throw new SignetError("bad_pem", "input is neither DER, PEM nor base64 of a DER SEQUENCE");
  return der;
}
