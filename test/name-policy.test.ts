import { describe, expect, it } from "vitest";
import { SignetError } from "../ca/errors.js";
import {
  compileNamePolicy,
  validateNamePolicy,
  type NameKind,
  type NamePolicy,
  type RequestedNames,
} from "../ca/policy/index.js";

const LABEL = "provisioner acme";

function req(kind: NameKind, name: string): RequestedNames {
  const n: RequestedNames = { dns: [], ip: [], uri: [], email: [] };
  if (kind === "commonName") n.commonName = name;
  else n[kind].push(name);
  return n;
}

/** The error check() throws, or undefined if the names pass. */
function refusal(policy: NamePolicy, names: RequestedNames, label = LABEL): SignetError | undefined {
  try {
    compileNamePolicy(policy, label).check(names);
    return undefined;
  } catch (err) {
    if (!(err instanceof SignetError)) throw err;
    expect(err.code).toBe("forbidden_name");
    return err;
  }
}

function passes(policy: NamePolicy, kind: NameKind, name: string): boolean {
  return refusal(policy, req(kind, name)) === undefined;
}

function policyError(p: unknown): SignetError {
  try {
    validateNamePolicy(p);
  } catch (err) {
    if (err instanceof SignetError && err.code === "bad_policy") return err;
    throw err;
  }
  throw new Error("expected bad_policy");
}

describe("empty policy", () => {
  const compiled = compileNamePolicy({}, "authority");

  it("is empty and allows every well-formed name of every kind", () => {
    expect(compiled.empty).toBe(true);
    expect(compiled.label).toBe("authority");
    expect(() =>
      compiled.check({
        dns: ["example.com", "*.example.com", "a.b.c.example.org."],
        ip: ["10.0.0.1", "2001:db8::1", "::ffff:192.168.0.1"],
        uri: ["spiffe://prod.example/ns/x/sa/y", "https://example.com/a", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"],
        email: ["someone@example.com"],
        commonName: "anything at all",
      }),
    ).not.toThrow();
  });

  it("treats empty rule lists as no rules", () => {
    const c = compileNamePolicy({ allow: { dns: [] }, deny: { ip: [] } }, "authority");
    expect(c.empty).toBe(true);
    expect(() => c.check(req("ip", "10.0.0.1"))).not.toThrow();
  });

  it.each<[NameKind, string, string]>([
    ["dns", "a.*.example.com", "a wildcard may only be the whole left-most label"],
    ["dns", "*", `a bare "*" is not a name`],
    ["ip", "10.0.0.256", "is not an IPv4 or IPv6 address"],
    ["uri", "/relative/path", "is not an absolute URI"],
    ["email", "nobody", "exactly one '@'"],
  ])("still refuses the malformed %s name %j", (kind, name, reason) => {
    const err = refusal({}, req(kind, name));
    expect(err?.message).toContain(reason);
  });
});

describe("deny wins and allow-lists span kinds", () => {
  const policy: NamePolicy = {
    allow: { dns: [".example.com"] },
    deny: { dns: ["secret.example.com"] },
  };

  it("refuses a denied name that an allow rule also matches", () => {
    const err = refusal(policy, req("dns", "secret.example.com"));
    expect(err?.message).toBe(`DNS name "secret.example.com" is denied by the provisioner acme name policy (rule "secret.example.com")`);
    expect(err?.detail).toEqual({ name: "secret.example.com", kind: "dns", policy: LABEL, rule: "secret.example.com" });
  });

  it("allows a name that matches an allow rule and no deny rule", () => {
    expect(passes(policy, "dns", "www.example.com")).toBe(true);
  });

  it("refuses a name of an allowed kind that matches no allow rule", () => {
    const err = refusal(policy, req("dns", "example.org"));
    expect(err?.message).toBe(
      `DNS name "example.org" is not allowed by the provisioner acme name policy: it matches no allowed DNS rule`,
    );
    expect(err?.detail).toEqual({ name: "example.org", kind: "dns", policy: LABEL });
  });

  it.each<[NameKind, string, string]>([
    ["ip", "10.0.0.1", "it allows no IP addresses"],
    ["uri", "spiffe://prod.example/x", "it allows no URIs"],
    ["email", "a@example.com", "it allows no email addresses"],
    ["commonName", "my service", "it allows no common names"],
  ])("refuses every %s name once any kind has allow rules (%j)", (kind, name, reason) => {
    const err = refusal(policy, req(kind, name));
    expect(err?.message).toContain(`is not allowed by the provisioner acme name policy: ${reason}`);
    expect(err?.detail?.["kind"]).toBe(kind);
  });

  it("with only deny rules allows every other kind and name", () => {
    const denyOnly: NamePolicy = { deny: { ip: ["10.0.0.0/8"] } };
    expect(passes(denyOnly, "ip", "10.1.2.3")).toBe(false);
    expect(passes(denyOnly, "ip", "11.0.0.1")).toBe(true);
    expect(passes(denyOnly, "dns", "anything.example")).toBe(true);
    expect(passes(denyOnly, "commonName", "whatever")).toBe(true);
  });

  it("reports the first offending name across kinds", () => {
    const err = refusal(policy, { dns: ["ok.example.com"], ip: ["10.0.0.1"], uri: [], email: [] });
    expect(err?.detail?.["name"]).toBe("10.0.0.1");
  });

  it("is not empty when it has rules", () => {
    expect(compileNamePolicy(policy, LABEL).empty).toBe(false);
    expect(compileNamePolicy({ deny: { commonName: ["x"] } }, LABEL).empty).toBe(false);
  });

  it("names the policy label in every refusal", () => {
    const err = refusal({ deny: { dns: ["*"] } }, req("dns", "a.example"), "authority");
    expect(err?.message).toBe(`DNS name "a.example" is denied by the authority name policy (rule "*")`);
    expect(err?.detail?.["policy"]).toBe("authority");
  });

  it("escapes and bounds the name it quotes", () => {
    const err = refusal({}, req("dns", `a\nb.${"x".repeat(400)}`));
    expect(err?.message).toContain(`DNS name "a\\nb.`);
    expect(err?.message).not.toContain("\n");
    expect(err?.message.length).toBeLessThan(400);
    expect(err?.detail?.["name"]).toBe(`a\nb.${"x".repeat(400)}`);
  });
});

describe("DNS", () => {
  it.each<[string, string, boolean]>([
    ["example.com", "example.com", true],
    ["example.com", "EXAMPLE.com", true],
    ["example.com", "example.com.", true],
    ["example.com", "www.example.com", false],
    ["EXAMPLE.COM", "example.com", true],
    ["*.example.com", "a.example.com", true],
    ["*.example.com", "a.b.example.com", false],
    ["*.example.com", "example.com", false],
    ["*.example.com", "aexample.com", false],
    [".example.com", "a.example.com", true],
    [".example.com", "a.b.c.example.com", true],
    [".example.com", "example.com", false],
    [".example.com", "badexample.com", false],
    ["*", "anything.at.all", true],
    ["*", "localhost", true],
    ["localhost", "localhost", true],
  ])("allow %j, request %j → %s", (rule, name, allowed) => {
    expect(passes({ allow: { dns: [rule] } }, "dns", name)).toBe(allowed);
    // The same rule as a deny refuses exactly the names it would allow.
    expect(passes({ deny: { dns: [rule] } }, "dns", name)).toBe(!allowed);
  });

  describe("requested wildcards", () => {
    it.each<[string, string, boolean]>([
      ["*.foo.example.com", "*.foo.example.com", true],
      [".foo.example.com", "*.foo.example.com", true],
      [".example.com", "*.foo.example.com", true],
      ["*", "*.foo.example.com", true],
      ["a.foo.example.com", "*.foo.example.com", false],
      ["foo.example.com", "*.foo.example.com", false],
      ["*.example.com", "*.foo.example.com", false],
      ["*.bar.example.com", "*.foo.example.com", false],
      [".bar.example.com", "*.foo.example.com", false],
      ["*.foo.example.com", "*.FOO.example.com.", true],
    ])("allow %j covers request %j: %s", (rule, name, allowed) => {
      expect(passes({ allow: { dns: [rule] } }, "dns", name)).toBe(allowed);
    });

    it.each<[string, string, boolean]>([
      ["secret.foo.example.com", "*.foo.example.com", true],
      [".example.com", "*.foo.example.com", true],
      [".foo.example.com", "*.foo.example.com", true],
      ["*.foo.example.com", "*.foo.example.com", true],
      ["*", "*.foo.example.com", true],
      ["foo.example.com", "*.foo.example.com", false],
      ["a.b.foo.example.com", "*.foo.example.com", false],
      ["*.a.foo.example.com", "*.foo.example.com", false],
      [".a.foo.example.com", "*.foo.example.com", false],
      ["secret.bar.example.com", "*.foo.example.com", false],
    ])("deny %j refuses request %j: %s", (rule, name, denied) => {
      expect(passes({ deny: { dns: [rule] } }, "dns", name)).toBe(!denied);
    });

    it("explains a wildcard refused because it covers a denied name", () => {
      const err = refusal({ deny: { dns: ["secret.foo.example.com"] } }, req("dns", "*.foo.example.com"));
      expect(err?.message).toBe(
        `DNS name "*.foo.example.com" is denied by the provisioner acme name policy: it covers "secret.foo.example.com", which rule "secret.foo.example.com" denies`,
      );
      expect(err?.detail?.["rule"]).toBe("secret.foo.example.com");
    });

    it("explains a wildcard no allow rule covers", () => {
      const err = refusal({ allow: { dns: ["a.foo.example.com"] } }, req("dns", "*.foo.example.com"));
      expect(err?.message).toContain("no allowed DNS rule covers every name the wildcard stands for");
    });
  });

  it.each<[string, string]>([
    ["*", `a bare "*" is not a name`],
    ["*.", `a bare "*" is not a name`],
    ["a.*.example.com", "a wildcard may only be the whole left-most label"],
    ["a*.example.com", "a wildcard may only be the whole left-most label"],
    ["*a.example.com", "a wildcard may only be the whole left-most label"],
    ["*.*.example.com", "a wildcard may only be the whole left-most label"],
    ["bücher.example", `punycode A-labels (here "xn--bcher-kva.example")`],
    ["\u212Aelvin.example", "non-ASCII"], // KELVIN SIGN lower-cases to an ASCII 'k'
    ["a..example.com", "has an empty label"],
    [".example.com", "has an empty label"],
    ["example.com..", "has an empty label"],
    ["", "is empty"],
    ["-a.example.com", `invalid label "-a"`],
    ["a-.example.com", `invalid label "a-"`],
    ["under_score.example.com", `invalid label "under_score"`],
    ["sp ace.example.com", "invalid label"],
    [`${"a".repeat(64)}.example.com`, "longer than 63"],
    [`${"a.".repeat(126)}ab`, "longer than 253"],
    ["10.0.0.1", "reads as an IP address"],
  ])("refuses the malformed request %j", (name, reason) => {
    const err = refusal({}, req("dns", name));
    expect(err?.message).toContain(reason);
    expect(err?.message).toContain(`DNS name ${JSON.stringify(name)} is invalid: `);
    expect(err?.detail).toMatchObject({ name, kind: "dns", policy: LABEL });
  });

  it.each([
    `${"a".repeat(63)}.example.com`,
    `${"a.".repeat(125)}abc`, // 253 characters
    `${"a.".repeat(125)}abc.`, // 253 plus the trailing dot
    "xn--bcher-kva.example",
    "a-b.example.com",
    "1password.com",
    "*.example.com",
  ])("accepts the well-formed request %j", (name) => {
    expect(passes({}, "dns", name)).toBe(true);
  });
});

describe("IP", () => {
  it.each<[string, string, boolean]>([
    ["10.0.0.0/8", "10.0.0.0", true],
    ["10.0.0.0/8", "10.255.255.255", true],
    ["10.0.0.0/8", "11.0.0.0", false],
    ["10.0.0.0/8", "9.255.255.255", false],
    ["192.168.1.5", "192.168.1.5", true],
    ["192.168.1.5", "192.168.1.6", false],
    ["192.168.1.4/31", "192.168.1.5", true],
    ["0.0.0.0/0", "203.0.113.9", true],
    ["0.0.0.0/0", "2001:db8::1", false],
    ["2001:db8::/32", "2001:db8::1", true],
    ["2001:db8::/32", "2001:DB8:ffff:ffff:ffff:ffff:ffff:ffff", true],
    ["2001:db8::/32", "2001:db9::", false],
    ["::/0", "fe80::1", true],
    ["::/0", "10.0.0.1", false],
    ["::1", "0:0:0:0:0:0:0:1", true],
    ["10.0.0.0/8", "::ffff:10.0.0.1", true],
    ["10.0.0.0/8", "::ffff:a00:1", true],
    ["10.0.0.0/8", "::ffff:11.0.0.1", false],
    ["::ffff:10.0.0.0/104", "10.1.2.3", true],
    ["::ffff:10.0.0.0/104", "::ffff:10.1.2.3", true],
    ["::/0", "::ffff:10.0.0.1", false],
    ["2001:db8::/32", "10.0.0.1", false],
    ["64:ff9b::/96", "64:ff9b::10.0.0.1", true],
  ])("rule %j, request %j → %s", (rule, name, matches) => {
    expect(passes({ allow: { ip: [rule] } }, "ip", name)).toBe(matches);
    expect(passes({ deny: { ip: [rule] } }, "ip", name)).toBe(!matches);
  });

  it("picks the matching rule among several prefix lengths", () => {
    const err = refusal({ deny: { ip: ["10.0.0.0/8", "192.168.0.0/16", "192.168.1.0/24", "2001:db8::/32"] } }, req("ip", "192.168.1.9"));
    expect(err?.detail?.["rule"]).toBe("192.168.0.0/16");
    expect(err?.message).toBe(`IP address "192.168.1.9" is denied by the provisioner acme name policy (rule "192.168.0.0/16")`);
  });

  it("denies a mapped address by the IPv4 rule, naming the address as requested", () => {
    const err = refusal({ deny: { ip: ["10.0.0.0/8"] } }, req("ip", "::ffff:10.0.0.1"));
    expect(err?.detail).toEqual({ name: "::ffff:10.0.0.1", kind: "ip", policy: LABEL, rule: "10.0.0.0/8" });
  });

  it.each([
    "10.0.0",
    "10.0.0.1.2",
    "010.0.0.1",
    "10.0.0.256",
    "10.0.0.-1",
    "10.0.0.1/32",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    ":1::",
    "12345::",
    "fe80::1%eth0",
    "[::1]",
    "::ffff:10.0.0",
    "1.2.3.4::",
    "localhost",
    "",
  ])("refuses the malformed address %j", (name) => {
    expect(refusal({}, req("ip", name))?.message).toContain("is not an IPv4 or IPv6 address");
  });

  it.each(["::", "::1", "1::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4"])(
    "accepts the well-formed address %j",
    (name) => {
      expect(passes({}, "ip", name)).toBe(true);
    },
  );
});

describe("URI", () => {
  it.each<[string, string, boolean]>([
    ["spiffe://prod.example/ns/*/sa/*", "spiffe://prod.example/ns/default/sa/web", true],
    ["spiffe://prod.example/ns/*/sa/*", "spiffe://prod.example/ns/default/sa/web/extra", false],
    ["spiffe://prod.example/ns/*/sa/*", "spiffe://prod.example/ns/a/b/sa/web", false],
    ["spiffe://prod.example/ns/*/sa/*", "spiffe://staging.example/ns/a/sa/web", false],
    ["spiffe://prod.example/**", "spiffe://prod.example/a/b/c", true],
    ["spiffe://prod.example/**", "spiffe://prod.example", false],
    ["spiffe://prod.example/**", "spiffe://prod.example.evil/a", false],
    ["spiffe://prod.example/ns/*", "spiffe://prod.example/ns/x", true],
    ["spiffe://prod.example/ns/x*", "spiffe://prod.example/ns/xyz", true],
    ["spiffe://prod.example/ns/*x", "spiffe://prod.example/ns/abx", true],
    ["spiffe://prod.example/ns/*x", "spiffe://prod.example/ns/abxy", false],
    ["spiffe://prod.example/*/**/sa/*", "spiffe://prod.example/a/b/c/sa/d", true],
    ["spiffe://prod.example/*/**/sa/*", "spiffe://prod.example/a/sa/d", false],
    ["spiffe://prod.example/a/***", "spiffe://prod.example/a/b/c", true],
    ["spiffe://*/ns/x", "spiffe://any.domain/ns/x", true],
    ["spiffe://prod.example/ns/x", "spiffe://prod.example/ns/x", true],
    ["spiffe://prod.example/ns/x", "spiffe://prod.example/ns/X", false],
    ["SPIFFE://Prod.Example/ns/x", "spiffe://prod.example/ns/x", true],
    ["https://*.example.com/**", "https://api.example.com/v1/things", true],
    ["https://*.example.com/**", "https://a.b.example.com/x", true],
    ["https://*.example.com/**", "https://API.Example.COM/x", true],
    ["https://*.example.com/**", "https://example.com/x", false],
    ["https://*.example.com/**", "http://api.example.com/x", false],
    ["https://*.example.com/**", "https://evil.com/?.example.com/", false],
    ["https://*.example.com/**", "https://evil.com/#.example.com/", false],
    ["foo://*.example.com/**", "foo://a.example.com/x", true],
    ["foo://*.example.com/**", "foo://evil.com?.example.com/", false],
    ["foo://*.example.com/**", "foo://evil.com#.example.com/", false],
    ["foo://*.example.com*", "foo://evil.com?.example.com/", false],
    ["https://*.example.com/**", "https://api.example.com:8443/x", false],
    ["https://*.example.com:*/**", "https://api.example.com:8443/x", true],
    ["https://example.com/api/**", "https://example.com/api/v1?q=1", true],
    ["https://example.com/A%2fb", "https://example.com/A%2Fb", true],
    ["https://example.com/Path", "https://example.com/path", false],
    ["urn:uuid:*", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", true],
    ["urn:uuid:*", "urn:isbn:0451450523", false],
  ])("rule %j, request %j → %s", (rule, name, matches) => {
    expect(passes({ allow: { uri: [rule] } }, "uri", name)).toBe(matches);
    expect(passes({ deny: { uri: [rule] } }, "uri", name)).toBe(!matches);
  });

  it.each<[string, string]>([
    ["spiffe://Prod.example/x", "lower-case"],
    ["SPIFFE://prod.example/x", `must start with "spiffe://" in lower case`],
    ["spiffe://prod.example:8080/x", "no port or user information"],
    ["spiffe://user@prod.example/x", "user information"],
    ["spiffe:///x", "needs a trust domain"],
    ["spiffe://prod.example/x?y=1", "query or fragment"],
    ["spiffe://prod.example/x#frag", "query or fragment"],
    ["spiffe://prod.example/a//b", "empty segments"],
    ["spiffe://prod.example/a/", "trailing '/'"],
    ["spiffe://prod.example/a/./b", "'.' or '..'"],
    ["spiffe://prod.example/a/../b", "'.' or '..'"],
    ["spiffe://prod.example/a+b", "path segment is letters"],
    ["spiffe://prod.example/a%20b", "path segment is letters"],
    ["spiffe:prod.example/x", `must start with "spiffe://"`],
    ["/ns/x", "not an absolute URI"],
    ["prod.example/x", "not an absolute URI"],
    ["https://exa mple.com/", "characters a URI may not"],
    ["https://example.com/é", "characters a URI may not"],
    ["https://example.com/a\nb", "characters a URI may not"],
    ["https://example.com\\admin", "characters a URI may not"],
    ["https://example.com/%zz", "does not start a percent-escape"],
    ["https://example.com/%73ecret", `percent-encodes "s"`],
    ["https://user:pw@example.com/", "user information"],
    ["https://example.com:443/", "canonical form"],
    ["https:example.com/", "canonical form"],
    ["https://evil.com?.example.com/", `canonical form (expected "https://evil.com/?.example.com/")`],
    ["https://0x7f.1/", `canonical form (expected "https://127.0.0.1/")`],
    ["https://[2001:0db8::1]/", "canonical form"],
    ["https://example.com/a/../admin", "'.' or '..' path segments"],
    ["https://exa_mple:x/", "cannot be parsed"],
  ])("refuses the malformed request %j", (name, reason) => {
    const err = refusal({}, req("uri", name));
    expect(err?.message).toContain(reason);
    expect(err?.message).toContain(`URI ${JSON.stringify(name)} is invalid: `);
  });

  it.each([
    "spiffe://prod.example",
    "spiffe://prod-1.example_x/ns/A.b-c_d/sa/x",
    "https://example.com",
    "https://EXAMPLE.com/Path?q=%2F#frag",
    "https://[2001:db8::1]:8443/",
    "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    "foo://Host/x",
  ])("accepts the well-formed request %j", (name) => {
    expect(passes({}, "uri", name)).toBe(true);
  });

  it("names the matching deny rule", () => {
    const err = refusal({ deny: { uri: ["spiffe://prod.example/ns/kube-system/**"] } }, req("uri", "spiffe://prod.example/ns/kube-system/sa/admin"));
    expect(err?.message).toBe(
      `URI "spiffe://prod.example/ns/kube-system/sa/admin" is denied by the provisioner acme name policy (rule "spiffe://prod.example/ns/kube-system/**")`,
    );
    expect(err?.detail).toEqual({
      name: "spiffe://prod.example/ns/kube-system/sa/admin",
      kind: "uri",
      policy: LABEL,
      rule: "spiffe://prod.example/ns/kube-system/**",
    });
  });

  // Regression: as a regex, a pattern of several `**` backtracked for seconds on a long name.
  it(
    "matches a many-glob pattern against a long hostile name without backtracking",
    () => {
      const policy: NamePolicy = { allow: { uri: ["spiffe://prod.example/**a**a**a**a**a**a**b", "spiffe://prod.example/*a*a*a*a*a*a*b"] } };
      expect(passes(policy, "uri", `spiffe://prod.example/${"a".repeat(2000)}`)).toBe(false);
      expect(passes(policy, "uri", `spiffe://prod.example/${"a".repeat(2000)}b`)).toBe(true);
    },
    5_000,
  );
});

describe("email", () => {
  it.each<[string, string, boolean]>([
    ["user@example.com", "user@example.com", true],
    ["user@example.com", "user@EXAMPLE.COM", true],
    ["user@EXAMPLE.com", "user@example.com", true],
    ["user@example.com", "User@example.com", false],
    ["user@example.com", "other@example.com", false],
    ["example.com", "anyone@example.com", true],
    ["example.com", "anyone@sub.example.com", false],
    [".example.com", "anyone@sub.example.com", true],
    [".example.com", "anyone@a.b.example.com", true],
    [".example.com", "anyone@example.com", false],
    [".example.com", "anyone@badexample.com", false],
  ])("rule %j, request %j → %s", (rule, name, matches) => {
    expect(passes({ allow: { email: [rule] } }, "email", name)).toBe(matches);
    expect(passes({ deny: { email: [rule] } }, "email", name)).toBe(!matches);
  });

  it.each<[string, string]>([
    ["nobody", "exactly one '@'"],
    ["a@b@example.com", "exactly one '@'"],
    ["@example.com", "empty local part"],
    ["a@", "domain that is empty"],
    ["a@exa_mple.com", "domain that has an invalid label"],
    ['"a@b"@example.com', "exactly one '@'"],
    ["a b@example.com", "dot-atom"],
    [".a@example.com", "dot-atom"],
    ["a..b@example.com", "dot-atom"],
    ["josé@example.com", "non-ASCII"],
  ])("refuses the malformed request %j", (name, reason) => {
    const err = refusal({}, req("email", name));
    expect(err?.message).toContain(reason);
    expect(err?.detail).toMatchObject({ name, kind: "email" });
  });
});

describe("commonName", () => {
  it.each<[string, string, boolean]>([
    ["web-*", "web-01", true],
    ["web-*", "Web-01", false],
    ["web-*", "web-", true],
    ["*", "anything / with slashes", true],
    ["*/prod", "team/a/prod", true],
    ["My Service", "My Service", true],
    ["My Service", "my service", false],
  ])("rule %j, request %j → %s", (rule, name, matches) => {
    expect(passes({ allow: { commonName: [rule] } }, "commonName", name)).toBe(matches);
    expect(passes({ deny: { commonName: [rule] } }, "commonName", name)).toBe(!matches);
  });

  it("is not checked when the caller leaves it out", () => {
    expect(refusal({ allow: { dns: ["example.com"] } }, { dns: ["example.com"], ip: [], uri: [], email: [], commonName: undefined })).toBeUndefined();
  });
});

describe("validateNamePolicy", () => {
  it("normalises rules", () => {
    expect(
      validateNamePolicy({
        allow: {
          dns: ["Example.COM", "*.Example.com", ".EXAMPLE.com", "*"],
          ip: ["192.168.1.5", "10.0.0.0/8", "2001:DB8:0:0::/32", "::ffff:10.0.0.0/104", "::FFFF:1.2.3.4", "0:0::1"],
          uri: ["SPIFFE://Prod.Example/ns/*/sa/*", "https://*.Example.com/A%2f**"],
          email: ["User@Example.COM", "Example.com", ".Example.com"],
          commonName: ["Web-*"],
        },
        deny: { ip: ["fe80:0:0:0:0:0:0:0/10", "2001:db8:0:1:0:0:0:1", "1:0:0:2:0:0:0:3"] },
      }),
    ).toEqual({
      allow: {
        dns: ["example.com", "*.example.com", ".example.com", "*"],
        ip: ["192.168.1.5/32", "10.0.0.0/8", "2001:db8::/32", "10.0.0.0/8", "1.2.3.4/32", "::1/128"],
        uri: ["spiffe://prod.example/ns/*/sa/*", "https://*.example.com/A%2F**"],
        email: ["User@example.com", "example.com", ".example.com"],
        commonName: ["Web-*"],
      },
      deny: { ip: ["fe80::/10", "2001:db8:0:1::1/128", "1:0:0:2::3/128"] },
    });
  });

  it("accepts an empty policy and returns a fresh object", () => {
    const input = { allow: { dns: ["a.example"] } };
    const out = validateNamePolicy(input);
    expect(validateNamePolicy({})).toEqual({});
    expect(out).not.toBe(input);
    expect(out.allow).not.toBe(input.allow);
  });

  it.each<[string, unknown, string, string]>([
    ["not an object", "allow everything", "", `name policy "allow everything" must be an object`],
    ["an array", [], "", "name policy must be an object"],
    ["null", null, "", "name policy must be an object"],
    ["unknown top-level key", { allwo: {} }, "allwo", "name policy allwo is not a known key (expected one of allow, deny)"],
    ["unknown kind", { allow: { dnz: ["a.example"] } }, "allow.dnz", "name policy allow.dnz is not a known key"],
    ["__proto__ key", JSON.parse(`{"deny":{"__proto__":[]}}`), "deny.__proto__", "is not a known key"],
    ["rules not an object", { deny: ["a.example"] }, "deny", "name policy deny must be an object"],
    ["list not an array", { allow: { dns: "a.example" } }, "allow.dns", `name policy allow.dns "a.example" must be an array of strings`],
    ["entry not a string", { allow: { dns: ["a.example", "b.example", 3] } }, "allow.dns[2]", "name policy allow.dns[2] must be a string"],
    ["empty entry", { deny: { email: [""] } }, "deny.email[0]", `name policy deny.email[0] "" is empty`],
    ["misplaced DNS wildcard", { allow: { dns: ["ok.example", "x.example", "a.*.com"] } }, "allow.dns[2]", `name policy allow.dns[2] "a.*.com" is not a valid DNS rule: a wildcard may only be the whole left-most label`],
    ["partial-label wildcard", { allow: { dns: ["a*.example.com"] } }, "allow.dns[0]", "a wildcard may only be the whole left-most label"],
    ["wildcard after a dot", { allow: { dns: [".*.example.com"] } }, "allow.dns[0]", "a wildcard may only be the whole left-most label"],
    ["DNS trailing dot", { allow: { dns: ["example.com."] } }, "allow.dns[0]", "must not end with a dot"],
    ["DNS bad label", { deny: { dns: ["-x.example"] } }, "deny.dns[0]", "has an invalid label"],
    ["DNS non-ASCII", { deny: { dns: ["bücher.example"] } }, "deny.dns[0]", `punycode A-labels (here "xn--bcher-kva.example")`],
    ["IP garbage", { allow: { ip: ["10.0.0.0/8", "ten"] } }, "allow.ip[1]", `name policy allow.ip[1] "ten" is not a valid IP rule: "ten" is not an IPv4 or IPv6 address`],
    ["IP host bits", { allow: { ip: ["10.1.0.0/8"] } }, "allow.ip[0]", `has host bits set (did you mean "10.0.0.0/8"?)`],
    ["IPv6 host bits", { allow: { ip: ["2001:db8::1/32"] } }, "allow.ip[0]", `did you mean "2001:db8::/32"?`],
    ["IPv4 prefix too long", { allow: { ip: ["10.0.0.0/33"] } }, "allow.ip[0]", "the prefix length must be 0-32"],
    ["IPv6 prefix too long", { allow: { ip: ["::/129"] } }, "allow.ip[0]", "the prefix length must be 0-128"],
    ["empty prefix", { allow: { ip: ["10.0.0.0/"] } }, "allow.ip[0]", "the prefix length must be 0-32"],
    ["padded prefix", { allow: { ip: ["10.0.0.0/08"] } }, "allow.ip[0]", "the prefix length must be 0-32"],
    ["URI without scheme", { allow: { uri: ["prod.example/**"] } }, "allow.uri[0]", "does not start with a literal scheme"],
    ["URI glob scheme", { allow: { uri: ["*://prod.example/**"] } }, "allow.uri[0]", "does not start with a literal scheme"],
    ["URI unparsable", { allow: { uri: ["https://exa_mple:x/**"] } }, "allow.uri[0]", "cannot be parsed as a URI"],
    ["URI ** in host", { allow: { uri: ["https://**.example.com/"] } }, "allow.uri[0]", `"**" may not be used in the host`],
    ["URI with userinfo", { allow: { uri: ["https://*@example.com/"] } }, "allow.uri[0]", "user information"],
    ["URI with space", { allow: { uri: ["https://example.com/a b"] } }, "allow.uri[0]", "characters a URI may not"],
    ["URI default port", { allow: { uri: ["https://*.example.com:443/**"] } }, "allow.uri[0]", "not in canonical form, so no request could match it"],
    ["URI dot segment", { allow: { uri: ["https://example.com/a/../b"] } }, "allow.uri[0]", `not in canonical form, so no request could match it (expected "https://example.com/b")`],
    ["bad SPIFFE pattern", { allow: { uri: ["spiffe://prod.example/ns//x"] } }, "allow.uri[0]", "empty segments"],
    ["SPIFFE pattern with port", { allow: { uri: ["spiffe://prod.example:1/**"] } }, "allow.uri[0]", "no port"],
    ["email bad domain", { allow: { email: ["a@exa_mple.com"] } }, "allow.email[0]", "has a domain that has an invalid label"],
    ["email bad host rule", { allow: { email: [".exa_mple.com"] } }, "allow.email[0]", "has a domain that has an invalid label"],
    ["email empty local", { allow: { email: ["@example.com"] } }, "allow.email[0]", "empty local part"],
  ])("refuses %s, naming the path", (_what, policy, path, message) => {
    const err = policyError(policy);
    expect(err.message).toContain(message);
    expect(err.detail?.["path"]).toBe(path);
    expect(err.detail).toHaveProperty("value");
  });

  it.each(["https://*/**", "https://*.example.com", "https://*:*/**", "urn:uuid:*", "spiffe://*/**", "foo://Any/thing?q=*#*"])(
    "accepts the URI rule %j",
    (rule) => {
      expect(() => validateNamePolicy({ allow: { uri: [rule] } })).not.toThrow();
    },
  );

  it("puts the offending entry in detail.value", () => {
    expect(policyError({ allow: { dns: ["ok.example", 7] } }).detail).toEqual({ path: "allow.dns[1]", value: 7 });
  });

  it("is applied by compileNamePolicy too", () => {
    let err: unknown;
    try {
      compileNamePolicy({ allow: { ip: ["10.0.0.0/8", "nope"] } }, LABEL);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SignetError);
    expect(err).toMatchObject({ code: "bad_policy", detail: { path: "allow.ip[1]", value: "nope" } });
  });

  it("lets a compiled policy use rules written in any case", () => {
    expect(passes({ allow: { dns: ["*.EXAMPLE.com"], uri: ["SPIFFE://PROD.example/**"] } }, "dns", "a.example.com")).toBe(true);
    expect(passes({ allow: { uri: ["SPIFFE://PROD.example/**"] } }, "uri", "spiffe://prod.example/x")).toBe(true);
  });
});
