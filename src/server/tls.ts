// The HTTPS port's own certificate: a fresh key in memory at every start (it never touches disk),
// a server certificate from Signet's CA through the normal pipeline (provisioner signet-system),
// re-issued at two thirds of its life and swapped into the running server.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import type { Authority, IssuedCertificate } from "../../ca/authority.js";
import type { ProfileName } from "../../ca/profiles.js";
import { isSignetError, SignetError } from "../../ca/errors.js";
import { compileNamePolicy, type NamePolicy } from "../../ca/policy/index.js";
import { buildCsr, toPem, type SubjectAltNamesInput } from "../../ca/x509/index.js";
import type { Services } from "../services.js";
import type { TlsMaterial } from "./https-app.js";

export const SYSTEM_PROVISIONER = "signet-system";

const SYSTEM_PROFILES = ["server", "client-server", "ocsp-responder", "scep-ra"];

/** Creates signet-system, or lets an existing one (from an older version) issue every profile
 * Signet needs for itself, keeping the rest of its definition. */
export async function ensureSystemProvisioner(s: Services): Promise<void> {
  const existing = await s.provisioners.get(SYSTEM_PROVISIONER);
  const allowed = Array.isArray(existing?.options.allowedProfiles) ? (existing.options.allowedProfiles as string[]) : [];
  if (existing && SYSTEM_PROFILES.every((p) => allowed.includes(p))) return;
  await s.provisioners.upsert(
    {
      name: SYSTEM_PROVISIONER,
      type: "admin",
      profile: existing?.profile ?? "server",
      defaultLifetimeSeconds: existing?.defaultLifetimeSeconds ?? s.config.tlsLifetimeSeconds,
      maxLifetimeSeconds: existing?.maxLifetimeSeconds ?? s.config.maxLifetimeSeconds,
      policy: existing?.policy ?? {},
      options: { ...(existing?.options ?? { description: "Signet's own certificates" }), allowedProfiles: [...new Set([...allowed, ...SYSTEM_PROFILES])] },
      enabled: true,
    },
    "system:bootstrap",
  );
}

/** Refuses a name policy under which Signet could no longer issue its own HTTPS certificate: applied
 * to the authority-wide policy and to signet-system's, it would take the admin API down at the next
 * start or renewal. */
export function assertKeepsOwnCertificate(policy: NamePolicy, label: string, publicHost: string): void {
  const names = serverNames(publicHost);
  try {
    compileNamePolicy(policy, label).check({ ...names, uri: [], email: [] });
  } catch (err) {
    if (!isSignetError(err, "forbidden_name")) throw err;
    throw new SignetError(
      "conflict",
      `this ${label} name policy would refuse Signet's own HTTPS certificate (${err.message}); allow ${[...names.dns, ...names.ip].join(", ")} or change SIGNET_PUBLIC_HOST`,
      { detail: { names: [...names.dns, ...names.ip] } },
    );
  }
}

export function serverNames(publicHost: string): { dns: string[]; ip: string[] } {
  const dns = new Set(["localhost"]);
  const ip = new Set(["127.0.0.1", "::1"]);
  if (isIP(publicHost)) ip.add(publicHost);
  else dns.add(publicHost.toLowerCase());
  return { dns: [...dns], ip: [...ip] };
}

/** A fresh key and a certificate for it from Signet's own CA, through the pipeline under
 * signet-system: the HTTPS port's certificate, the OCSP responder's, the SCEP RA's. */
export async function issueOwnCertificate(
  authority: Authority,
  o: { keyAlgorithm: "P-256" | "RSA-2048"; commonName: string; sans?: SubjectAltNamesInput; profile: ProfileName; lifetimeSeconds: number; identity: string; actor: string },
): Promise<{ privateKey: KeyObject; publicKey: KeyObject; issued: IssuedCertificate }> {
  const { privateKey, publicKey } = o.keyAlgorithm === "P-256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const csr = buildCsr({ privateKey, publicKey, keyAlgorithm: o.keyAlgorithm, subject: [{ type: "CN", value: o.commonName }], ...(o.sans ? { sans: o.sans } : {}) });
  const issued = await authority.sign({ csr, provisioner: SYSTEM_PROVISIONER, via: "admin", actor: o.actor, profile: o.profile, lifetimeSeconds: o.lifetimeSeconds, identity: o.identity });
  return { privateKey, publicKey, issued };
}

export async function issueServerTls(s: Services): Promise<{ tls: TlsMaterial; issued: IssuedCertificate }> {
  const names = serverNames(s.config.publicHost);
  const { privateKey, issued } = await issueOwnCertificate(s.authority, {
    keyAlgorithm: "P-256",
    commonName: names.dns.at(-1)!,
    sans: names,
    profile: "server",
    lifetimeSeconds: s.config.tlsLifetimeSeconds,
    identity: `signet:https:${s.config.publicHost}`,
    actor: "system:tls",
  });
  return {
    tls: {
      key: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      cert: issued.chainPem,
      ca: [toPem("CERTIFICATE", s.authority.root.certDer), toPem("CERTIFICATE", s.authority.intermediate.certDer)],
    },
    issued,
  };
}
