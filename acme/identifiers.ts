// Order identifiers (RFC 8555 §7.1.3 dns, RFC 8738 ip): syntax, normal form, wildcards.
import { isIP } from "node:net";
import { formatIp, ipToBytes } from "../ca/x509/index.js";
import { AcmeProblem, problemDocument, type Identifier, type ProblemDocument } from "./problems.js";

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
export const MAX_IDENTIFIERS = 100;

export interface CheckedIdentifier extends Identifier {
  /** The name an authorization covers: the base domain of a wildcard. */
  authzValue: string;
  wildcard: boolean;
}

/** Parses an order's identifiers; every bad one is reported at once, as subproblems. */
export function parseIdentifiers(v: unknown, opts: IdentifierOptions): CheckedIdentifier[] {
  if (!Array.isArray(v) || v.length === 0) throw new AcmeProblem("malformed", "identifiers must be a non-empty array");
  if (v.length > MAX_IDENTIFIERS) throw new AcmeProblem("rejectedIdentifier", `an order may have at most ${MAX_IDENTIFIERS} identifiers`);
  const out = new Map<string, CheckedIdentifier>();
  const problems: ProblemDocument[] = [];
  for (const raw of v as unknown[]) {
    if (typeof raw !== "object" || raw === null || typeof (raw as Identifier).type !== "string" || typeof (raw as Identifier).value !== "string") {
      throw new AcmeProblem("malformed", "each identifier must be an object with string type and value");
    }
    const { type, value } = raw as Identifier;
    const shown: Identifier = { type: type as Identifier["type"], value: value.slice(0, 256) };
    try {
      const id = checkIdentifier(type, value, opts);
      out.set(`${id.type}:${id.value}`, id);
    } catch (err) {
      if (!(err instanceof AcmeProblem)) throw err;
      problems.push(problemDocument(err.type, err.detail, err.status, { identifier: shown }));
    }
  }
  if (problems.length === 1) {
    const p = problems[0]!;
    throw new AcmeProblem(p.type.split(":").at(-1) as never, p.detail, { subproblems: problems });
  }
  if (problems.length > 1) {
    const unsupported = problems.every((p) => p.type.endsWith(":unsupportedIdentifier"));
    throw new AcmeProblem(unsupported ? "unsupportedIdentifier" : "rejectedIdentifier", `${problems.length} identifiers cannot be ordered`, { subproblems: problems });
  }
  return [...out.values()];
}

export interface IdentifierOptions {
  wildcards: boolean;
  ip: boolean;
  /** draft-ietf-acme-device-attest permanent-identifier (validated by device-attest-01). */
  permanent?: boolean;
}

/** A device's permanent identifier as Signet names TPMs: printable ASCII, no spaces. */
const PERMANENT = /^[\x21-\x7e]{1,128}$/;

function checkIdentifier(type: string, value: string, opts: IdentifierOptions): CheckedIdentifier {
  if (type === "permanent-identifier") {
    if (!opts.permanent) throw new AcmeProblem("unsupportedIdentifier", "this ACME provisioner does not offer device attestation (permanent-identifier)");
    if (!PERMANENT.test(value)) throw new AcmeProblem("malformed", "a permanent-identifier must be 1-128 printable ASCII characters");
    return { type: "permanent-identifier", value, authzValue: value, wildcard: false };
  }
  if (type === "ip") {
    if (!opts.ip) throw new AcmeProblem("unsupportedIdentifier", "this ACME provisioner does not issue for IP addresses");
    if (!isIP(value) || value.includes("%")) throw new AcmeProblem("malformed", `${JSON.stringify(value.slice(0, 64))} is not an IP address (zone indexes are not allowed)`);
    // RFC 8738 §3: IPv6 in RFC 5952 form; one normal form either way.
    const normal = formatIp(ipToBytes(value));
    return { type: "ip", value: normal, authzValue: normal, wildcard: false };
  }
  if (type !== "dns") throw new AcmeProblem("unsupportedIdentifier", `identifier type ${JSON.stringify(type.slice(0, 32))} is not supported (dns and ip are${opts.permanent ? ", and permanent-identifier" : ""})`);
  const name = value.toLowerCase();
  if (name !== value) throw new AcmeProblem("malformed", `DNS identifiers must be lower case: ${JSON.stringify(value)}`);
  if (isIP(name)) throw new AcmeProblem("malformed", `${value} is an IP address: order it as an "ip" identifier`);
  const wildcard = name.startsWith("*.");
  const base = wildcard ? name.slice(2) : name;
  if (base.length === 0 || base.length > 253 || base.endsWith(".") || !base.split(".").every((l) => LABEL.test(l))) {
    throw new AcmeProblem("rejectedIdentifier", `${JSON.stringify(value.slice(0, 256))} is not a valid DNS name`);
  }
  if (base.includes("*")) throw new AcmeProblem("rejectedIdentifier", "a wildcard may only be the whole leftmost label");
  if (wildcard) {
    if (!opts.wildcards) throw new AcmeProblem("rejectedIdentifier", "this ACME provisioner does not issue wildcard certificates");
    if (!base.includes(".")) throw new AcmeProblem("rejectedIdentifier", "a wildcard needs at least two labels below it");
  }
  return { type: "dns", value: name, authzValue: base, wildcard };
}
