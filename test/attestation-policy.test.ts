// The posture policy, evaluated by the real Cedar engine (cedar-wasm), and its hot-reloaded file.
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { compilePosturePolicy, explainDecision, type PosturePolicy } from "../ca/attestation/policy.js";
import type { AllowDecision, Decision, Evidence } from "../ca/attestation/types.js";
import { PolicyFile } from "../src/attestation/policy-file.js";
import { DEFAULT_ATTESTATION_POLICY } from "../src/bootstrap.js";
import { expectCode } from "./support/expect-code.js";

const TD = "signet.test";
const NOW = new Date("2026-11-23T12:00:00Z");
const DIGEST = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

const K8S_POLICY = `
@id("k8s-inference")
@identity("spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}")
@dns("{serviceAccount}.{namespace}.svc, {podName}.pods.internal")
@roles("inference:invoke,metrics:read")
@lifetime("1h")
@profile("client")
permit (principal, action == Action::"enrol", resource)
when {
  context.type == "kubernetes" &&
  context.claims has namespace && context.claims.namespace == "inference" &&
  context.claims has imageDigest && ["${DIGEST}"].contains(context.claims.imageDigest)
};

@id("node-denylist")
@reason("the node is on the denylist")
forbid (principal, action, resource) when { ["node-7"].contains(context.nodeId) };

forbid (principal, action, resource) when { context.ageSeconds > 300 };
`;

function evidence(over: Partial<Evidence> = {}, claims: Evidence["claims"] = {}): Evidence {
  return {
    type: "kubernetes",
    issuer: "https://kubernetes.default.svc",
    subject: "system:serviceaccount:inference:llm",
    nodeId: "node-1",
    claims: { namespace: "inference", serviceAccount: "llm", podName: "llm-0", imageDigest: DIGEST, ...claims },
    issuedAt: new Date(NOW.getTime() - 10_000),
    expiresAt: new Date(NOW.getTime() + 600_000),
    uniqueId: null,
    digest: "ab".repeat(32),
    ...over,
  };
}

function compile(text: string): PosturePolicy {
  return compilePosturePolicy(text, { trustDomain: TD });
}

function allowed(d: Decision): AllowDecision {
  expect(d.allow, JSON.stringify(d.reasons)).toBe(true);
  return d as AllowDecision;
}

function denied(d: Decision): string[] {
  expect(d.allow).toBe(false);
  return d.reasons;
}

describe("posture policy decisions", () => {
  const policy = compile(K8S_POLICY);

  it("allows matching evidence and renders the permit's outcome", () => {
    const d = allowed(policy.decide(evidence(), "k8s", NOW));
    expect(d).toEqual({
      allow: true,
      spiffeId: "spiffe://signet.test/ns/inference/sa/llm",
      identity: "spiffe://signet.test/ns/inference/sa/llm",
      nodeId: "node-1",
      dns: ["llm.inference.svc", "llm-0.pods.internal"],
      ip: [],
      roles: ["inference:invoke", "metrics:read"],
      profile: "client",
      lifetimeSeconds: 3600,
      reasons: ["k8s-inference"],
      policyVersion: policy.version,
    });
    expect(policy.version).toMatch(/^[0-9a-f]{16}$/);
    expect(policy.policies.map((p) => [p.id, p.effect])).toEqual([
      ["k8s-inference", "permit"],
      ["node-denylist", "forbid"],
      ["policy2", "forbid"],
    ]);
  });

  it("lower-cases claim values in DNS names but keeps SPIFFE path segments as they are", () => {
    const d = allowed(policy.decide(evidence({}, { serviceAccount: "LLM" }), "k8s", NOW));
    expect(d.spiffeId).toBe("spiffe://signet.test/ns/inference/sa/LLM");
    expect(d.dns).toEqual(["llm.inference.svc", "llm-0.pods.internal"]);
  });

  it("lets a forbid win, with its @reason, or its id when it has none", () => {
    expect(denied(policy.decide(evidence({ nodeId: "node-7" }), "k8s", NOW))).toEqual(["the node is on the denylist"]);
    const stale = evidence({ issuedAt: new Date(NOW.getTime() - 301_000) });
    expect(denied(policy.decide(stale, "k8s", NOW))).toEqual(["forbidden by policy policy2"]);
    const both = evidence({ nodeId: "node-7", issuedAt: new Date(NOW.getTime() - 301_000) });
    expect(denied(policy.decide(both, "k8s", NOW))).toEqual(["the node is on the denylist", "forbidden by policy policy2"]);
  });

  it("denies when nothing permits", () => {
    expect(denied(policy.decide(evidence({}, { namespace: "default" }), "k8s", NOW))).toEqual(["no posture policy allows this evidence"]);
    expect(denied(policy.decide(evidence({}, { imageDigest: "sha256:00" }), "k8s", NOW))).toEqual(["no posture policy allows this evidence"]);
    expect(denied(policy.decide(evidence({ type: "posture" }), "k8s", NOW))).toEqual(["no posture policy allows this evidence"]);
  });

  it("denies, naming the claim, when a template's claim is missing", () => {
    const e = evidence();
    delete e.claims.podName;
    const reasons = denied(policy.decide(e, "k8s", NOW));
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/k8s-inference.*@dns.*claim "podName" is missing/);
  });

  it("treats a claim that is not a string as missing", () => {
    const reasons = denied(policy.decide(evidence({}, { serviceAccount: 42 }), "k8s", NOW));
    expect(reasons[0]).toMatch(/claim "serviceAccount" is not a string/);
  });

  it("refuses unsafe claim values, naming the claim but not quoting the value", () => {
    const open = compile(`
      @identity("spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}")
      @dns("{serviceAccount}.{namespace}.svc")
      permit (principal, action, resource);`);
    for (const namespace of ["../x-secret", "A B-secret", "..", "a/b-secret", "x\u0000y-secret", "é-secret"]) {
      const reasons = denied(open.decide(evidence({}, { namespace }), "k8s", NOW));
      expect(reasons, namespace).toHaveLength(1);
      expect(reasons[0]).toMatch(/claim "namespace"/);
      expect(reasons[0]).not.toContain("secret");
    }
    // Safe in a SPIFFE segment, not in a DNS name.
    const reasons = denied(open.decide(evidence({}, { namespace: "in_ference" }), "k8s", NOW));
    expect(reasons[0]).toMatch(/policy0 \(@dns\): claim "namespace" has a value that cannot be used as a DNS name/);
  });

  it("refuses a DNS name made of safe pieces that is still not a DNS name", () => {
    const open = compile(`@dns("{serviceAccount}.{namespace}.svc") permit (principal, action, resource);`);
    const reasons = denied(open.decide(evidence({}, { namespace: "-inference" }), "k8s", NOW));
    expect(reasons[0]).toMatch(/@dns.*claim.*"namespace".*not a DNS name/);
    expect(denied(open.decide(evidence({}, { namespace: "a..b" }), "k8s", NOW))[0]).toMatch(/not a DNS name/);
  });

  it("matches principal and resource as Workload and Provisioner entities", () => {
    const p = compile(`permit (principal == Workload::"system:serviceaccount:inference:llm", action == Action::"enrol", resource == Provisioner::"k8s");`);
    expect(allowed(p.decide(evidence(), "k8s", NOW)).identity).toBe("system:serviceaccount:inference:llm");
    expect(allowed(p.decide(evidence(), "k8s", NOW)).spiffeId).toBeNull();
    denied(p.decide(evidence(), "other", NOW));
    denied(p.decide(evidence({ subject: "system:serviceaccount:inference:other" }), "k8s", NOW));
  });

  it("gives policies the evidence's type, issuer, subject, nodeId and age in context", () => {
    const p = compile(`permit (principal, action, resource) when {
      context.type == "posture" && context.issuer == "https://ci" && context.subject == "build-1" &&
      context.nodeId == "" && context.ageSeconds == 0 && context.claims.compliant == true && context.claims.count == 3 };`);
    const e = evidence({ type: "posture", issuer: "https://ci", subject: "build-1", nodeId: null, issuedAt: null, claims: { compliant: true, count: 3, ratio: 0.5, __entity: "x" } });
    allowed(p.decide(e, "ci", NOW));
    const aged = compile(`permit (principal, action, resource) when { context.ageSeconds == 10 };`);
    allowed(aged.decide(evidence(), "k8s", NOW));
  });

  it("takes the outcome from the first permit in file order, and lists the others", () => {
    const text = Array.from({ length: 12 }, (_, i) => `@id("p${i}") @roles("r${i}") permit (principal, action, resource);`).join("\n");
    const p = compile(text);
    const d = allowed(p.decide(evidence(), "k8s", NOW));
    expect(d.roles).toEqual(["r0"]);
    expect(d.reasons).toEqual(Array.from({ length: 12 }, (_, i) => `p${i}`));
    expect(p.policies.map((x) => x.id)).toEqual(Array.from({ length: 12 }, (_, i) => `p${i}`));
    expect(p.policies.map((x) => x.line)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    // Cedar's own ids, policy10 sorting before policy2, map back to file order too.
    const unnamed = compile(Array.from({ length: 12 }, (_, i) => `@roles("r${i}") permit (principal, action, resource) when { context.claims.n == ${i} };`).join("\n"));
    for (const n of [0, 2, 10, 11]) {
      const got = allowed(unnamed.decide(evidence({}, { n }), "k8s", NOW));
      expect(got.roles).toEqual([`r${n}`]);
      expect(got.reasons).toEqual([`policy${n}`]);
    }
  });

  it("falls through to the next permit when one cannot be applied", () => {
    const p = compile(`
      @id("with-dns") @identity("{identity}") @dns("{dns}") permit (principal, action, resource);
      @id("bare") @identity("{identity}") permit (principal, action, resource);`);
    const withList = allowed(p.decide(evidence({ type: "join-token" }, { identity: "spiffe://signet.test/host/web-1", dns: ["web-1.internal", "WEB.internal"] }), "jt", NOW));
    expect(withList.reasons[0]).toBe("with-dns");
    expect(withList.spiffeId).toBe("spiffe://signet.test/host/web-1");
    expect(withList.dns).toEqual(["web-1.internal", "web.internal"]);
    const bare = allowed(p.decide(evidence({ type: "join-token", claims: { identity: "host-1" } }), "jt", NOW));
    expect(bare.reasons).toEqual(["bare", "with-dns"]);
    expect(bare).toMatchObject({ identity: "host-1", spiffeId: null, dns: [] });
    // A whole-identity claim must be a SPIFFE ID of this trust domain or a plain name.
    for (const identity of ["spiffe://other.test/host/x", "spiffe://signet.test/../x", "a b"]) {
      expect(denied(p.decide(evidence({ type: "join-token", claims: { identity } }), "jt", NOW))[0]).toMatch(/claim "identity"/);
    }
    // A list where a single string is needed makes the permit inapplicable.
    const inTemplate = compile(`@dns("{dns}.example") permit (principal, action, resource);`);
    expect(denied(inTemplate.decide(evidence({}, { dns: ["a", "b"] }), "k8s", NOW))[0]).toMatch(/claim "dns" is not a string/);
  });

  it("refuses when a forbid cannot be evaluated (Cedar alone would skip it)", () => {
    const p = compile(`
      permit (principal, action, resource);
      @id("banned") forbid (principal, action, resource) when { context.claims.banned == true };`);
    expect(denied(p.decide(evidence(), "k8s", NOW))).toEqual([expect.stringMatching(/policy banned refuses: it could not be evaluated/)]);
    allowed(p.decide(evidence({}, { banned: false }), "k8s", NOW));
  });

  it("says which permits could not be evaluated when nothing permits", () => {
    const p = compile(`@id("needs-team") permit (principal, action, resource) when { context.claims.team == "ml" };`);
    expect(denied(p.decide(evidence(), "k8s", NOW))).toEqual(["no posture policy allows this evidence", expect.stringMatching(/policy needs-team could not be evaluated/)]);
  });

  it("renders IP addresses canonically and refuses values that are not addresses", () => {
    const p = compile(`@ip("{podIP}, 10.0.0.1") permit (principal, action, resource);`);
    expect(allowed(p.decide(evidence({}, { podIP: "2001:DB8:0:0::1" }), "k8s", NOW)).ip).toEqual(["2001:db8::1", "10.0.0.1"]);
    expect(denied(p.decide(evidence({}, { podIP: "10.0.0.256" }), "k8s", NOW))[0]).toMatch(/@ip.*"podIP".*not an IP address/);
    expect(denied(p.decide(evidence({}, { podIP: "10.0.0.1/8" }), "k8s", NOW))[0]).toMatch(/claim "podIP"/);
  });

  it("versions the policy by its text", () => {
    const a = compile(K8S_POLICY);
    expect(a.version).toBe(policy.version);
    const b = compile(`${K8S_POLICY}\n// a comment`);
    expect(b.version).not.toBe(a.version);
    expect(b.decide(evidence(), "k8s", NOW).policyVersion).toBe(b.version);
  });
});

describe("posture policy validation at load", () => {
  it("refuses text Cedar cannot parse, with the line", () => {
    expectCode(() => compile(`permit (principal, action, resource);\n\npermit (principal, action, resource) when { context.x == };`), "bad_policy", /line 3, column \d+/);
    expectCode(() => compile(`// é\npermit (principal, action resource);`), "bad_policy", /line 2, column \d+/);
    expectCode(() => compile(`@a("1") @a("2") permit (principal, action, resource);`), "bad_policy", /duplicate annotation/);
  });

  it("refuses unknown annotations and annotations on the wrong effect", () => {
    expectCode(() => compile(`@color("red") permit (principal, action, resource);`), "bad_policy", /unknown annotation @color/);
    expectCode(() => compile(`@reason("no") permit (principal, action, resource);`), "bad_policy", /@reason belongs on a forbid/);
    expectCode(() => compile(`@roles("x") forbid (principal, action, resource);`), "bad_policy", /@roles belongs on a permit/);
    expectCode(() => compile(`@dns permit (principal, action, resource);`), "bad_policy", /@dns needs a value/);
  });

  it("refuses bad lifetimes and profiles", () => {
    for (const lifetime of ["1w", "1.5h", "0s", "h", "1 h", "-1h"]) {
      expectCode(() => compile(`@lifetime("${lifetime}") permit (principal, action, resource);`), "bad_policy", /@lifetime/);
    }
    const ok = compile(`@lifetime("1h30m") permit (principal, action, resource);`);
    expect(allowed(ok.decide(evidence(), "k8s", NOW)).lifetimeSeconds).toBe(5400);
    expectCode(() => compile(`@profile("admin") permit (principal, action, resource);`), "bad_policy", /@profile "admin" is not one of client, server/);
  });

  it("refuses malformed templates", () => {
    const cases: Array<[string, RegExp]> = [
      [`@dns("{namespace.svc")`, /without a "}"/],
      [`@dns("namespace}.svc")`, /without a "{"/],
      [`@dns("{}.svc")`, /invalid placeholder/],
      [`@dns("{name space}.svc")`, /invalid placeholder/],
      [`@dns("a.svc,,b.svc")`, /is empty/],
      [`@dns("*.{namespace}.svc")`, /cannot be part of a DNS name/],
      [`@dns("bad_name.svc")`, /cannot be part of a DNS name/],
      [`@dns("-x.svc")`, /not a DNS name/],
      [`@ip("10.0.0.300")`, /not an IP address/],
      [`@roles("ok, bad role")`, /cannot be part of a role/],
      [`@identity("spiffe://other.test/ns/{namespace}")`, /must start with spiffe:\/\/\{trustDomain\}\//],
      [`@identity("spiffe://{namespace}/x")`, /must start with spiffe:\/\/\{trustDomain\}\//],
      [`@identity("spiffe://{trustDomain}/a//b")`, /path segment/],
      [`@identity("host/{name}")`, /cannot be part of an identity/],
      [`@identity("spiffe://{trustDomain}/ns/{namespace}/../x")`, /can never render a valid value.*path segment/],
      [`@dns("{serviceAccount}-.svc")`, /can never render a valid value.*not a DNS name/],
      [`@roles("-{team}")`, /can never render a valid value.*not a role/],
    ];
    for (const [annotation, message] of cases) {
      expectCode(() => compile(`${annotation} permit (principal, action, resource);`), "bad_policy", message);
    }
  });

  it("refuses duplicate or malformed ids, templates with slots, an empty policy and a bad trust domain", () => {
    expectCode(() => compile(`@id("a") permit (principal, action, resource);\n@id("a") permit (principal, action, resource);`), "bad_policy", /line 2: the id a is used twice/);
    expectCode(() => compile(`@id("policy1") permit (principal, action, resource);\npermit (principal, action, resource);`), "bad_policy", /policy1 is used twice/);
    expectCode(() => compile(`@id("a b") permit (principal, action, resource);`), "bad_policy", /@id must be/);
    expectCode(() => compile(`permit (principal == ?principal, action, resource);`), "bad_policy", /templates/);
    expectCode(() => compile(`// nothing yet\n`), "bad_policy", /no policies/);
    expectCode(() => compilePosturePolicy(`permit (principal, action, resource);`, { trustDomain: "Bad/TD" }), "bad_policy", /trust domain/);
  });
});

describe("explainDecision", () => {
  it("explains an allow and a deny", () => {
    const p = compile(`${K8S_POLICY}\n@id("also") permit (principal, action, resource);`);
    const lines = explainDecision(p.decide(evidence(), "k8s", NOW));
    expect(lines[0]).toBe(`allowed by policy k8s-inference (policy version ${p.version})`);
    expect(lines).toContain("  also permitted by: also (the first permit in file order gives the outcome)");
    expect(lines).toContain("  SPIFFE ID: spiffe://signet.test/ns/inference/sa/llm");
    expect(lines).toContain("  DNS names: llm.inference.svc, llm-0.pods.internal");
    expect(lines).toContain("  IP addresses: none");
    expect(lines).toContain("  lifetime: 1h (3600 s)");
    expect(explainDecision(p.decide(evidence({ nodeId: "node-7" }), "k8s", NOW))).toEqual([
      `denied (policy version ${p.version})`,
      "  reason: the node is on the denylist",
    ]);
  });
});

describe("the example policy", () => {
  const example = compile(readFileSync(new URL("../examples/attestation/policy.cedar", import.meta.url), "utf8"));

  it("gives approved inference workloads their SPIFFE ID, name, role and lifetime", () => {
    const d = allowed(example.decide(evidence(), "k8s", NOW));
    expect(d).toMatchObject({ spiffeId: "spiffe://signet.test/ns/inference/sa/llm", dns: ["llm.inference.svc"], roles: ["inference:invoke"], lifetimeSeconds: 3600, reasons: ["k8s-inference"] });
    expect(denied(example.decide(evidence({}, { imageDigest: "sha256:00" }), "k8s", NOW))).toEqual(["no posture policy allows this evidence"]);
  });

  it("allows compliant posture assertions from the CI attester only", () => {
    const ci = evidence({ type: "posture", issuer: "https://ci.example.internal", subject: "build-42", claims: { sub: "build-42", compliant: true } });
    expect(allowed(example.decide(ci, "ci", NOW))).toMatchObject({ spiffeId: "spiffe://signet.test/ci/build-42", lifetimeSeconds: 1800 });
    denied(example.decide({ ...ci, claims: { sub: "build-42", compliant: false } }, "ci", NOW));
    denied(example.decide({ ...ci, issuer: "https://other" }, "ci", NOW));
  });

  it("gives join tokens what their claims say", () => {
    const jt = (claims: Evidence["claims"]) => evidence({ type: "join-token", issuer: "signet", subject: "tok-1", claims });
    expect(allowed(example.decide(jt({ identity: "spiffe://signet.test/host/db-1", dns: "db-1.internal" }), "jt", NOW))).toMatchObject({ spiffeId: "spiffe://signet.test/host/db-1", dns: ["db-1.internal"], reasons: ["join-token-with-dns", "join-token"] });
    expect(allowed(example.decide(jt({ identity: "db-2" }), "jt", NOW))).toMatchObject({ identity: "db-2", spiffeId: null, dns: [], reasons: ["join-token"] });
  });

  it("refuses denylisted nodes and stale evidence", () => {
    expect(denied(example.decide(evidence({ nodeId: "gpu-node-13" }), "k8s", NOW))).toEqual(["the node is on the denylist"]);
    expect(denied(example.decide(evidence({ issuedAt: new Date(NOW.getTime() - 400_000) }), "k8s", NOW))).toEqual(["the evidence is older than 300 s"]);
  });
});

describe("PolicyFile", () => {
  const V1 = `@id("v1") @roles("one") permit (principal, action, resource);`;
  const V2 = `@id("v2") @roles("two") permit (principal, action, resource);`;
  let dir: string | undefined;
  let file: PolicyFile | undefined;

  afterEach(() => {
    file?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    file = dir = undefined;
  });

  function logger() {
    const records: Array<{ level: number; msg: string }> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line) records.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    return { log: pino({ level: "info" }, stream), records };
  }

  async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it("refuses a broken file at start, naming it", () => {
    dir = mkdtempSync(join(tmpdir(), "signet-policy-"));
    const path = join(dir, "policy.cedar");
    writeFileSync(path, "permit (principal,");
    expectCode(() => new PolicyFile(path, { trustDomain: TD, log: logger().log }).load(), "bad_policy", new RegExp(`${path}: the posture policy does not parse`));
    expectCode(() => new PolicyFile(join(dir!, "missing.cedar"), { trustDomain: TD, log: logger().log }).load(), "bad_policy", /cannot read.*ENOENT/);
  });

  it("reloads a changed file and keeps the last good version when an edit is broken", async () => {
    dir = mkdtempSync(join(tmpdir(), "signet-policy-"));
    const path = join(dir, "policy.cedar");
    writeFileSync(path, V1);
    const { log, records } = logger();
    file = new PolicyFile(path, { trustDomain: TD, log });
    const v1 = file.load();
    expect(file.current()).toBe(v1);
    file.watch();

    writeFileSync(path, V2);
    await until("v2", () => file!.current().version !== v1.version);
    const v2 = file.current();
    expect(allowed(v2.decide(evidence(), "k8s", NOW))).toMatchObject({ roles: ["two"], reasons: ["v2"] });
    expect(records.some((r) => r.msg === "posture policy reloaded")).toBe(true);

    const errorsBefore = records.filter((r) => r.level >= 50).length;
    writeFileSync(path, `${V2}\n@lifetime("forever") permit (principal, action, resource);`);
    await until("the broken edit to be reported", () => records.filter((r) => r.level >= 50).length > errorsBefore);
    expect(file.current()).toBe(v2);
    expect(records.find((r) => r.level >= 50)?.msg).toMatch(/broken; the previous version stays in force/);

    // A fixed file is picked up again, also when an editor renames a new file over it.
    writeFileSync(`${path}.tmp`, V1);
    renameSync(`${path}.tmp`, path);
    await until("v1 again", () => file!.current().version === v1.version);
  });
});

describe("the zero-config policy", () => {
  const policy = compilePosturePolicy(DEFAULT_ATTESTATION_POLICY, { trustDomain: "signet.internal" });
  it("gives a join token the identity and names its claims say", () => {
    const d = policy.decide(evidence({ type: "join-token", issuer: "signet", subject: "web-1" }, { identity: "web-1", dns: ["web-1.internal"] }), "attest", new Date());
    expect(d).toMatchObject({ allow: true, spiffeId: "spiffe://signet.internal/web-1", dns: ["web-1.internal"] });
    const bare = policy.decide(evidence({ type: "join-token", issuer: "signet", subject: "dev-1" }, { identity: "dev-1" }), "attest", new Date());
    expect(bare).toMatchObject({ allow: true, spiffeId: "spiffe://signet.internal/dev-1", dns: [] });
  });
  it("allows nothing else", () => {
    expect(policy.decide(evidence({ type: "kubernetes" }, { namespace: "default" }), "attest", new Date()).allow).toBe(false);
    expect(policy.decide(evidence({ type: "join-token" }, {}), "attest", new Date()).allow).toBe(false);
  });
});
