// The issuance pipeline, end to end over in-memory storage, with OpenSSL as the judge of what it emits.
import { X509Certificate } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { CA_KEY_ALGORITHMS } from "../ca/signer.js";
import { parseCertificate, SIGNET_ROLES_EXTENSION, toPem } from "../ca/x509/index.js";
import { memoryAuthority, removeTestCas, TEST_HTTP_URL } from "./support/ca-fixture.js";
import { makeCsr, openssl, opensslCsr } from "./support/csr.js";
import { expectCodeAsync } from "./support/expect-code.js";

afterAll(() => removeTestCas());


function verifyChain(rootPem: string, intermediatePem: string, leafPem: string, purpose: string) {
  return openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", "root.pem", "-untrusted", "int.pem", "leaf.pem"], {
    "root.pem": rootPem,
    "int.pem": intermediatePem,
    "leaf.pem": leafPem,
  });
}

describe("Authority.sign", () => {
  it("issues a client certificate that openssl verifies, with every field the profile promises", async () => {
    const { authority, ca, ledger } = await memoryAuthority();
    const csr = makeCsr({ cn: "agent-7", sans: { dns: ["agent-7.prod.internal"], ip: ["10.1.2.3"], email: ["ops@example.com"] } });
    const issued = await authority.sign({
      csr: csr.pem,
      provisioner: "admin",
      via: "admin",
      actor: "test",
      spiffeId: "spiffe://prod.example/ns/ml/sa/agent",
      roles: ["inference:invoke", "tenant:blue"],
      nodeId: "node-17",
    });
    const rootPem = toPem("CERTIFICATE", ca.root.certDer);
    const intPem = toPem("CERTIFICATE", ca.intermediate.certDer);
    const v = verifyChain(rootPem, intPem, issued.pem, "sslclient");
    expect(v.out).toContain("leaf.pem: OK");
    expect(v.code).toBe(0);
    // A client certificate is not a server certificate.
    expect(verifyChain(rootPem, intPem, issued.pem, "sslserver").code).not.toBe(0);

    const text = openssl(["x509", "-in", "leaf.pem", "-noout", "-text"], { "leaf.pem": issued.pem }).out;
    expect(text).toContain("Subject: CN = agent-7");
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toContain("X509v3 Subject Key Identifier");
    expect(text).toContain("X509v3 Authority Key Identifier");
    expect(text).toContain(`OCSP - URI:${TEST_HTTP_URL}/ocsp`);
    expect(text).toContain(`CA Issuers - URI:${TEST_HTTP_URL}/certs/${authority.intermediate.id}.crt`);
    expect(text).toContain(`URI:${TEST_HTTP_URL}/crl/${authority.intermediate.id}.crl`);
    expect(text).toContain("DNS:agent-7.prod.internal");
    expect(text).toContain("IP Address:10.1.2.3");
    expect(text).toContain("email:ops@example.com");
    expect(text).toContain("URI:spiffe://prod.example/ns/ml/sa/agent");
    expect(text).toMatch(/X509v3 Subject Directory Attributes|2\.5\.29\.9/);
    expect(text).not.toContain(SIGNET_ROLES_EXTENSION);

    const parsed = parseCertificate(issued.der);
    expect(parsed.roles).toEqual(["inference:invoke", "tenant:blue"]);
    const rec = ledger.certs.get(issued.serialHex)!;
    expect(rec.status).toBe("valid");
    expect(rec.spiffeId).toBe("spiffe://prod.example/ns/ml/sa/agent");
    expect(rec.identity).toBe("spiffe://prod.example/ns/ml/sa/agent");
    expect(rec.nodeId).toBe("node-17");
    expect(rec.der?.equals(issued.der)).toBe(true);
    // The AKI is the intermediate's SKI.
    expect(parsed.authorityKeyId?.equals(authority.intermediate.subjectKeyId)).toBe(true);
  });

  it.each(CA_KEY_ALGORITHMS)("signs with a %s CA and openssl verifies the server chain", async (alg) => {
    const { authority, ca } = await memoryAuthority(alg);
    const csr = makeCsr({ cn: "svc.example.internal", sans: { dns: ["svc.example.internal"] } });
    const issued = await authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "test", profile: "server" });
    const v = verifyChain(toPem("CERTIFICATE", ca.root.certDer), toPem("CERTIFICATE", ca.intermediate.certDer), issued.pem, "sslserver");
    expect(v.out).toContain("leaf.pem: OK");
  });

  it("gives RSA keys keyEncipherment and client-server both EKUs", async () => {
    const { authority } = await memoryAuthority();
    const csr = makeCsr({ cn: "both", sans: { dns: ["both.internal"] }, alg: "RSA-2048" });
    const issued = await authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "test", profile: "client-server" });
    const text = openssl(["x509", "-in", "c.pem", "-noout", "-text"], { "c.pem": issued.pem }).out;
    expect(text).toMatch(/Digital Signature, Key Encipherment/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
  });

  it("accepts CSRs made by openssl for every allowed key type", async () => {
    const { authority } = await memoryAuthority();
    for (const newkey of [["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], ["-newkey", "ed25519"], ["-newkey", "rsa:3072"]]) {
      const pem = opensslCsr(newkey, "/CN=openssl-made", "DNS:openssl-made.internal");
      const issued = await authority.sign({ csr: pem, provisioner: "admin", via: "admin", actor: "test" });
      expect(new X509Certificate(issued.der).subject).toBe("CN=openssl-made");
    }
  });

  it("defaults to 24 hours, backdates notBefore by one minute, and honours floor and caps", async () => {
    const now = new Date("2026-11-23T10:00:00.000Z");
    const { authority, provisioners } = await memoryAuthority("P-256", { now: () => now });
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } });
    const a = await authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "test" });
    expect(a.notBefore.toISOString()).toBe("2026-11-23T09:59:00.000Z");
    expect(a.notAfter.toISOString()).toBe("2026-11-24T10:00:00.000Z");
    const b = await authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "test", lifetimeSeconds: 300 });
    expect(b.notAfter.getTime() - now.getTime()).toBe(300_000);
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "test", lifetimeSeconds: 299 }), "bad_lifetime", /at least 300s/);
    provisioners.add({ name: "short", maxLifetimeSeconds: 3600, defaultLifetimeSeconds: 900 });
    const c = await authority.sign({ csr: csr.pem, provisioner: "short", via: "admin", actor: "test" });
    expect(c.notAfter.getTime() - now.getTime()).toBe(900_000);
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "short", via: "admin", actor: "test", lifetimeSeconds: 7200 }), "bad_lifetime", /maximum of 3600s/);
    provisioners.add({ name: "long", maxLifetimeSeconds: 90 * 86400 });
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "long", via: "admin", actor: "test", lifetimeSeconds: 31 * 86400 }), "bad_lifetime", /authority's cap/);
  });

  it("draws 128-bit positive serials, unique, and retries on a collision", async () => {
    const { authority, ledger } = await memoryAuthority();
    const csr = makeCsr({ cn: "s", sans: { dns: ["s.internal"] } });
    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const c = await authority.sign({ csr: csr.der, provisioner: "admin", via: "admin", actor: "test" });
      expect(c.serialHex).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(c.serialHex.slice(0, 2)).not.toBe("00");
      const x = new X509Certificate(c.der);
      expect(x.serialNumber.toLowerCase()).toBe(c.serialHex);
      serials.add(c.serialHex);
    }
    expect(serials.size).toBe(50);
    expect(ledger.certs.size).toBe(50);
  });

  it("refuses names outside policy, naming the offending name; deny wins", async () => {
    const { authority, provisioners, policy } = await memoryAuthority();
    provisioners.add({ name: "ml", policy: { allow: { dns: [".ml.internal"], uri: ["spiffe://prod.example/ns/ml/**"] }, deny: { dns: ["secret.ml.internal"] } } });
    const ok = makeCsr({ cn: "a.ml.internal", sans: { dns: ["a.ml.internal"], uri: ["spiffe://prod.example/ns/ml/sa/x"] } });
    await authority.sign({ csr: ok.pem, provisioner: "ml", via: "admin", actor: "test" });
    const outside = makeCsr({ sans: { dns: ["a.ml.internal", "evil.example.com"] } });
    await expectCodeAsync(authority.sign({ csr: outside.pem, provisioner: "ml", via: "admin", actor: "test" }), "forbidden_name", /evil\.example\.com/);
    const denied = makeCsr({ sans: { dns: ["secret.ml.internal"] } });
    await expectCodeAsync(authority.sign({ csr: denied.pem, provisioner: "ml", via: "admin", actor: "test" }), "forbidden_name", /secret\.ml\.internal/);
    const ip = makeCsr({ sans: { dns: ["b.ml.internal"], ip: ["10.0.0.1"] } });
    await expectCodeAsync(authority.sign({ csr: ip.pem, provisioner: "ml", via: "admin", actor: "test" }), "forbidden_name", /10\.0\.0\.1/);
    // The authority-wide policy applies to every provisioner, including one that allows everything.
    policy.policy = { deny: { dns: ["*.blocked.internal"] } };
    const blocked = makeCsr({ sans: { dns: ["x.blocked.internal"] } });
    await expectCodeAsync(authority.sign({ csr: blocked.pem, provisioner: "admin", via: "admin", actor: "test" }), "forbidden_name", /x\.blocked\.internal.*authority|authority.*x\.blocked\.internal/s);
  });

  it("refuses weak and unsupported keys", async () => {
    const { authority } = await memoryAuthority();
    for (const [newkey, label] of [
      [["-newkey", "rsa:1024"], /RSA-1024/],
      [["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"], /P-521/],
      [["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"], /secp256k1/],
    ] as const) {
      const pem = opensslCsr([...newkey], "/CN=weak", "DNS:weak.internal");
      await expectCodeAsync(authority.sign({ csr: pem, provisioner: "admin", via: "admin", actor: "test" }), "forbidden_key", label);
    }
  });

  it("refuses a CSR whose signature does not verify, and garbage", async () => {
    const { authority, ledger } = await memoryAuthority();
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } });
    const tampered = Buffer.from(csr.der);
    tampered[tampered.length - 5]! ^= 0x01;
    await expectCodeAsync(authority.sign({ csr: tampered, provisioner: "admin", via: "admin", actor: "test" }), "bad_csr_signature");
    await expectCodeAsync(authority.sign({ csr: "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n", provisioner: "admin", via: "admin", actor: "test" }), "bad_csr");
    await expectCodeAsync(authority.sign({ csr: csr.der.subarray(0, 40), provisioner: "admin", via: "admin", actor: "test" }), "bad_csr");
    expect(ledger.certs.size).toBe(0);
  });

  it("refuses unknown, disabled and other-door provisioners", async () => {
    const { authority, provisioners } = await memoryAuthority();
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } });
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "nope", via: "admin", actor: "test" }), "unknown_provisioner", /nope/);
    provisioners.add({ name: "off", enabled: false });
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "off", via: "admin", actor: "test" }), "provisioner_disabled");
    provisioners.add({ name: "acme", type: "acme" });
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "acme", via: "admin", actor: "test" }), "forbidden", /type acme/);
  });

  it("refuses a profile the provisioner does not allow, and more than one SPIFFE ID", async () => {
    const { authority, provisioners } = await memoryAuthority();
    provisioners.add({ name: "clients", options: {} });
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } });
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "clients", via: "admin", actor: "test", profile: "server" }), "forbidden_profile", /server/);
    const two = makeCsr({ sans: { uri: ["spiffe://a.example/x", "spiffe://a.example/y"] } });
    await expectCodeAsync(authority.sign({ csr: two.pem, provisioner: "admin", via: "admin", actor: "test" }), "bad_request", /one SPIFFE ID/);
    const none = makeCsr({});
    await expectCodeAsync(authority.sign({ csr: none.pem, provisioner: "admin", via: "admin", actor: "test" }), "bad_request", /no name/);
  });

  it("issues an intermediate from the root when the provisioner allows it, and refuses when the root is offline", async () => {
    const { authority, provisioners, ca } = await memoryAuthority();
    provisioners.add({ name: "subca", profile: "intermediate", options: { allowedProfiles: ["intermediate"] }, maxLifetimeSeconds: 30 * 86400 });
    const csr = makeCsr({ cn: "Team Sub CA" });
    const issued = await authority.sign({ csr: csr.pem, provisioner: "subca", via: "admin", actor: "test", profile: "intermediate" });
    const text = openssl(["x509", "-in", "c.pem", "-noout", "-text"], { "c.pem": issued.pem }).out;
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    const v = openssl(["verify", "-x509_strict", "-CAfile", "root.pem", "c.pem"], { "root.pem": toPem("CERTIFICATE", ca.root.certDer), "c.pem": issued.pem });
    expect(v.out).toContain("c.pem: OK");

    const offline = await memoryAuthority("P-256", { offlineRoot: true });
    offline.provisioners.add({ name: "subca", profile: "intermediate", options: { allowedProfiles: ["intermediate"] } });
    await expectCodeAsync(offline.authority.sign({ csr: csr.pem, provisioner: "subca", via: "admin", actor: "test", profile: "intermediate" }), "root_key_offline");
    // ...while the intermediate keeps issuing leaves.
    const leaf = await offline.authority.sign({ csr: makeCsr({ cn: "x", sans: { dns: ["x.internal"] } }).pem, provisioner: "admin", via: "admin", actor: "test" });
    expect(leaf.serialHex).toHaveLength(32);
  });

  it("records intent before signing and never returns a certificate it could not store", async () => {
    const { authority, ledger } = await memoryAuthority();
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } });
    ledger.failNext.intent = true;
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "test" }), "storage_failed", /nothing was signed/);
    expect(ledger.certs.size).toBe(0);
    ledger.failNext.issued = true;
    await expectCodeAsync(authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "test" }), "storage_failed", /discarded/);
    const [rec] = [...ledger.certs.values()];
    expect(rec!.status).toBe("failed");
    expect(rec!.der).toBeNull();
    expect(ledger.events.map((e) => e.event)).toEqual(["certificate.intent", "certificate.failed"]);
  });

  it("audits intent and issuance in a chain that verifies", async () => {
    const { authority, ledger } = await memoryAuthority();
    const { verifyChain } = await import("../ca/audit.js");
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } });
    const c = await authority.sign({ csr: csr.pem, provisioner: "admin", via: "admin", actor: "admin-token:1" });
    expect(ledger.events.map((e) => [e.event, e.actor, e.target])).toEqual([
      ["certificate.intent", "admin-token:1", c.serialHex],
      ["certificate.issued", "admin-token:1", c.serialHex],
    ]);
    async function* it() {
      yield* ledger.events;
    }
    expect((await verifyChain(it(), ledger.head)).ok).toBe(true);
  });
});

describe("Authority.revoke", () => {
  it("revokes a valid certificate once, with a reason, and audits it", async () => {
    const { authority, ledger } = await memoryAuthority();
    const c = await authority.sign({ csr: makeCsr({ cn: "r", sans: { dns: ["r.internal"] } }).pem, provisioner: "admin", via: "admin", actor: "test" });
    const r = await authority.revoke(c.serialHex.toUpperCase(), "admin-token:9", { reason: "keyCompromise" });
    expect(r.status).toBe("revoked");
    expect(r.revocationReason).toBe(1);
    expect(ledger.events.at(-1)).toMatchObject({ event: "certificate.revoked", actor: "admin-token:9", target: c.serialHex, data: { reason: "keyCompromise" } });
    await expectCodeAsync(authority.revoke(c.serialHex, "x", { reason: "keyCompromise" }), "already_revoked");
    await expectCodeAsync(authority.revoke("abcdef", "x", { reason: "keyCompromise" }), "unknown_certificate");
    await expectCodeAsync(authority.revoke("zz-not-hex", "x", { reason: "keyCompromise" }), "bad_serial");
    const d = await authority.sign({ csr: makeCsr({ cn: "r", sans: { dns: ["r.internal"] } }).pem, provisioner: "admin", via: "admin", actor: "test" });
    await expectCodeAsync(authority.revoke(d.serialHex, "x", { reason: "notAReason" }), "bad_revocation_reason");
    await expectCodeAsync(authority.revoke(d.serialHex, "x", { reason: "certificateHold" }), "bad_revocation_reason", /permanent/);
  });
});
