// Human-readable output for the CLI (--json prints the API's own JSON instead).
export interface CertificateJson {
  serial: string;
  status: string;
  subject: string;
  commonName: string | null;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  emails: string[];
  spiffeId: string | null;
  roles: string[];
  profile: string;
  provisioner: string;
  identity: string | null;
  nodeId: string | null;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  revokedAt: string | null;
  revocationReason: string | null;
  pem?: string;
}

export function printKv(rows: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(rows).map((k) => k.length));
  for (const [k, v] of Object.entries(rows)) process.stdout.write(`${`${k}:`.padEnd(width + 2)}${String(v)}\n`);
}

export function printCertificate(c: CertificateJson): void {
  const names = [...c.dnsNames.map((n) => `DNS:${n}`), ...c.ipAddresses.map((n) => `IP:${n}`), ...c.uris.map((n) => `URI:${n}`), ...c.emails.map((n) => `email:${n}`)];
  printKv({
    Serial: c.serial,
    Status: c.status + (c.revokedAt ? ` (${c.revocationReason} at ${c.revokedAt})` : ""),
    Subject: c.subject || "(empty)",
    Names: names.join(", ") || "(none)",
    Roles: c.roles.join(", ") || "(none)",
    Profile: c.profile,
    Provisioner: c.provisioner,
    Identity: c.identity ?? "",
    Node: c.nodeId ?? "",
    Key: c.keyAlgorithm,
    Valid: `${c.notBefore} .. ${c.notAfter}`,
  });
}

export function printCertificateTable(items: CertificateJson[]): void {
  for (const c of items) {
    process.stdout.write(`${c.serial}  ${c.status.padEnd(8)} ${c.notAfter}  ${c.profile.padEnd(13)} ${c.identity ?? c.commonName ?? ""}\n`);
  }
  if (items.length === 0) process.stdout.write("(no certificates)\n");
}
