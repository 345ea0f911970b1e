// ACME Renewal Information (RFC 9773): the certificate identifier and the suggested renewal window.
import { AcmeProblem } from "./problems.js";

const B64U = /^[A-Za-z0-9_-]+$/;

/** RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial, as the DER INTEGER's content octets). */
export function certIdOf(authorityKeyIdHex: string, serialHex: string): string {
  let serial = Buffer.from(serialHex, "hex");
  if (serial.length > 0 && serial[0]! >= 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${Buffer.from(authorityKeyIdHex, "hex").toString("base64url")}.${serial.toString("base64url")}`;
}

export function parseCertId(certId: string): { authorityKeyIdHex: string; serialHex: string } {
  const parts = certId.split(".");
  if (parts.length !== 2 || !B64U.test(parts[0]!) || !B64U.test(parts[1]!) || certId.includes("=")) {
    throw new AcmeProblem("malformed", "the certificate identifier must be base64url(AKI keyIdentifier).base64url(serial) (RFC 9773 §4.1)");
  }
  const aki = Buffer.from(parts[0]!, "base64url");
  let serial = Buffer.from(parts[1]!, "base64url");
  if (aki.length === 0 || aki.length > 64 || serial.length === 0 || serial.length > 21) throw new AcmeProblem("malformed", "the certificate identifier has an impossible key identifier or serial");
  // The DER INTEGER of a positive serial: a leading zero only when the next octet has its top bit set.
  if (serial[0]! & 0x80) throw new AcmeProblem("malformed", "the serial in the certificate identifier is negative");
  if (serial[0] === 0) {
    if (serial.length === 1 || !(serial[1]! & 0x80)) throw new AcmeProblem("malformed", "the serial in the certificate identifier is not minimally encoded");
    serial = serial.subarray(1);
  }
  return { authorityKeyIdHex: aki.toString("hex"), serialHex: serial.toString("hex") };
}

export interface RenewalWindow {
  start: Date;
  end: Date;
  /** Seconds until the client should ask again. */
  retryAfterSeconds: number;
  explanation: string | null;
}

/** The last third of the certificate's life, ending at 11/12 of it so a client polling at the
 * retry interval renews before expiry; "now" (a window already open) when the certificate was revoked
 * or its issuer is no longer the active intermediate. */
export function renewalWindow(c: { notBefore: Date; notAfter: Date; revoked: boolean; issuerRetired: boolean }, now: Date): RenewalWindow {
  const life = c.notAfter.getTime() - c.notBefore.getTime();
  const retryAfterSeconds = Math.max(60, Math.min(6 * 3600, Math.floor(life / 1000 / 12)));
  if (c.revoked || c.issuerRetired) {
    return {
      start: new Date(now.getTime() - 3600_000),
      end: new Date(now.getTime() - 60_000),
      retryAfterSeconds,
      explanation: c.revoked ? "the certificate was revoked: renew now" : "the issuing CA has been rotated: renew now",
    };
  }
  return {
    start: new Date(c.notBefore.getTime() + Math.floor((life * 2) / 3)),
    end: new Date(c.notBefore.getTime() + Math.floor((life * 11) / 12)),
    retryAfterSeconds,
    explanation: null,
  };
}
