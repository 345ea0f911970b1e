// Name policy: which names a certificate may carry.
//
// A policy has `allow` and `deny` rules for five kinds of name: `dns`, `ip`, `uri`, `email` and
// `commonName`. There is an authority-wide policy and one per provisioner; a request must pass both.
//
// - Deny always wins: a name that matches any deny rule of its kind is refused.
// - If the policy has any allow rule, of any kind, it is an allow-list: every requested name must
//   match an allow rule of its own kind, so a kind without allow rules is refused entirely. A policy
//   with no allow rules allows everything it does not deny. (smallstep's semantics: adding a DNS
//   allow rule must not leave IP addresses or URIs wide open.) An empty list is no rules.
// - Every requested name is checked for well-formedness even when the policy is empty; a malformed
//   name is refused with the reason.
//
// DNS names are compared case-insensitively and must be ASCII: internationalised names must be
// given as punycode A-labels. Labels are 1-63 characters of [a-z0-9-], not starting or ending with
// '-'; the name is at most 253 characters and its last label is not all digits (that would read as
// an IP address). One trailing dot is stripped from requested names; rules may not have one.
//   `example.com`    exactly that name
//   `*.example.com`  exactly one more label: `a.example.com`, not `a.b.example.com` nor `example.com`
//   `.example.com`   any subdomain at any depth, not `example.com` itself (as RFC 5280 name constraints)
//   `*`              any DNS name
// A requested wildcard (`*.foo.example.com`: `*` only as the whole left-most label, never alone)
// stands for every name it could match. It is allowed only by a rule that covers all of them
// (`*.foo.example.com`, `.foo.example.com`, `.example.com`, `*`; not `a.foo.example.com`), and
// refused if any of them would be denied (deny `secret.foo.example.com` refuses it).
//
// IP rules are IPv4 or IPv6 CIDRs or single addresses (`10.0.0.0/8`, `2001:db8::/32`,
// `192.168.1.5`); a CIDR with host bits set is refused as a likely typo. An IPv4-mapped IPv6
// address (`::ffff:10.0.0.1`) is the IPv4 address, in requests and in rules; other IPv6 rules
// never match IPv4 addresses.
//
// URI rules are absolute URIs with globs: `*` matches any run of characters except `/`, `**` any
// run at all. The scheme is literal; globs in the host (`*` only) never reach past it. Scheme and
// host compare case-insensitively, the rest case-sensitively (percent-escapes compare with
// upper-case hex). e.g. `spiffe://prod.example/ns/*/sa/*`, `spiffe://prod.example/**`,
// `https://*.example.com/**`. Requested URIs must be absolute, ASCII,
// free of userinfo and dot segments, and must not percent-encode unreserved characters: each of
// those would let one name be spelt two ways, one of which a rule misses. http(s), ws(s) and ftp
// URIs must be in WHATWG canonical form. `spiffe:` URIs must be valid SPIFFE IDs: lower-case trust
// domain of [a-z0-9.-_], no port, userinfo, query or fragment, path segments of [A-Za-z0-9.-_]
// that are neither empty nor `.` or `..`.
//
// Email rules follow RFC 5280 name constraints: `user@example.com` is that mailbox,
// `example.com` any mailbox at that host, `.example.com` any mailbox at any subdomain. The local
// part compares case-sensitively, the domain case-insensitively. A requested address has exactly one
// `@`, a non-empty dot-atom local part and a valid DNS domain.
//
// commonName rules are globs where `*` matches any run of characters, compared case-sensitively.
// The caller passes `commonName` only when the subject CN is not one of the SANs.
//
// There is no escape for a literal `*` in any rule.

import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { SignetError } from "../errors.js";
import { formatIp as formatIpBytes, ipToBytes } from "../x509/index.js";

export interface NameRules {
  dns?: string[];
  ip?: string[];
  uri?: string[];
  email?: string[];
  commonName?: string[];
}

export interface NamePolicy {
  allow?: NameRules;
  deny?: NameRules;
}

export interface RequestedNames {
  dns: string[];
  ip: string[];
  uri: string[];
  email: string[];
  commonName?: string | undefined;
}

export type NameKind = keyof NameRules;

export interface CompiledNamePolicy {
  /** Names the policy in error messages, e.g. "authority" or "provisioner acme". */
  readonly label: string;
  /** True when the policy has no rules at all. Informational: `check` still refuses malformed names. */
  readonly empty: boolean;
  /** Throws SignetError("forbidden_name") for the first name the policy refuses. */
  check(names: RequestedNames): void;
}

const KIND_KEYS: readonly NameKind[] = ["dns", "ip", "uri", "email", "commonName"];
const POLICY_KEYS: readonly (keyof NamePolicy)[] = ["allow", "deny"];

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Checks untrusted policy JSON and returns it normalised: DNS names and hosts lower-cased, IP
 * rules as canonical CIDRs, URI schemes and hosts lower-cased.
 */
export function validateNamePolicy(p: unknown): NamePolicy {
  if (!isPlainObject(p)) throw badPolicy("", p, "must be an object");
  const out: NamePolicy = {};
  for (const [key, value] of Object.entries(p)) {
    if (!(POLICY_KEYS as readonly string[]).includes(key)) {
      throw badPolicy(key, value, `is not a known key (expected one of ${POLICY_KEYS.join(", ")})`);
    }
    if (value === undefined) continue;
    out[key as keyof NamePolicy] = validateRules(value, key);
  }
  return out;
}

function validateRules(rules: unknown, path: string): NameRules {
  if (!isPlainObject(rules)) throw badPolicy(path, rules, "must be an object");
  const out: NameRules = {};
  for (const [key, list] of Object.entries(rules)) {
    const listPath = `${path}.${key}`;
    if (!(KIND_KEYS as readonly string[]).includes(key)) {
      throw badPolicy(listPath, list, `is not a known key (expected one of ${KIND_KEYS.join(", ")})`);
    }
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw badPolicy(listPath, list, "must be an array of strings");
    const kind = KINDS[key as NameKind];
    out[key as NameKind] = list.map((entry: unknown, i) => {
      const entryPath = `${listPath}[${i}]`;
      if (typeof entry !== "string") throw badPolicy(entryPath, entry, "must be a string");
      if (entry === "") throw badPolicy(entryPath, entry, "is empty");
      const rule = kind.parseRule(entry);
      if (typeof rule === "string") throw badPolicy(entryPath, entry, `is not a valid ${kind.ruleNoun}: ${rule}`);
      return rule.canonical;
    });
  }
  return out;
}

function badPolicy(path: string, value: unknown, reason: string): SignetError {
  const where = path === "" ? "name policy" : `name policy ${path}`;
  const shown = typeof value === "string" ? ` ${quote(value)}` : "";
  return new SignetError("bad_policy", `${where}${shown} ${reason}`, { detail: { path, value } });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// Compilation and checking

/** Validates and compiles a policy once, so that `check` does no parsing of rules. */
export function compileNamePolicy(p: NamePolicy, label: string): CompiledNamePolicy {
  const policy = validateNamePolicy(p);
  const allowRules = KIND_KEYS.reduce((n, k) => n + (policy.allow?.[k]?.length ?? 0), 0);
  const denyRules = KIND_KEYS.reduce((n, k) => n + (policy.deny?.[k]?.length ?? 0), 0);
  const allowList = allowRules > 0;
  const checker = (key: NameKind): KindChecker =>
    KINDS[key].checker(policy.allow?.[key] ?? [], policy.deny?.[key] ?? [], allowList, label);
  const [dns, ip, uri, email, commonName] = [checker("dns"), checker("ip"), checker("uri"), checker("email"), checker("commonName")];
  return {
    label,
    empty: allowRules + denyRules === 0,
    check(names: RequestedNames): void {
      for (const n of names.dns) dns(n);
      for (const n of names.ip) ip(n);
      for (const n of names.uri) uri(n);
      for (const n of names.email) email(n);
      if (names.commonName !== undefined) commonName(names.commonName);
    },
  };
}

type KindChecker = (name: string) => void;

/** Why a deny rule refuses a name; `covered` is set when a requested wildcard stands for the denied name. */
interface Denial {
  rule: string;
  covered?: string;
}

interface Matcher<T> {
  /** For a requested wildcard: true only if every name it stands for matches. */
  allows(name: T): boolean;
  /** For a requested wildcard: a rule matching any name it stands for. */
  denies(name: T): Denial | undefined;
}

interface Kind<T> {
  key: NameKind;
  noun: string;
  plural: string;
  ruleNoun: string;
  /** A parsed name, or the reason it is malformed. */
  parseName(raw: string): T | string;
  /** The canonical rule, or the reason it is invalid. */
  parseRule(raw: string): { canonical: string } | string;
  /** Compiles canonical rules. */
  compile(rules: readonly string[]): Matcher<T>;
  /** Requested wildcards get their own explanation when no allow rule covers them. */
  isWildcard?(name: T): boolean;
}

/** A kind with its parsed-name type hidden, so that the five can sit in one table. */
interface KindDef {
  ruleNoun: string;
  parseRule(raw: string): { canonical: string } | string;
  checker(allow: readonly string[], deny: readonly string[], allowList: boolean, label: string): KindChecker;
}

function defineKind<T>(kind: Kind<T>): KindDef {
  return {
    ruleNoun: kind.ruleNoun,
    parseRule: kind.parseRule,
    checker: (allow, deny, allowList, label) => compileKind(kind, allow, deny, allowList, label),
  };
}

function compileKind<T>(
  kind: Kind<T>,
  allow: readonly string[],
  deny: readonly string[],
  allowList: boolean,
  label: string,
): KindChecker {
  const allowMatcher = allow.length > 0 ? kind.compile(allow) : undefined;
  const denyMatcher = deny.length > 0 ? kind.compile(deny) : undefined;
  const policy = `the ${label} name policy`;
  const forbid = (raw: string, why: string, rule?: string): SignetError =>
    new SignetError("forbidden_name", `${kind.noun} ${quote(raw)} ${why}`, {
      detail: { name: raw, kind: kind.key, policy: label, ...(rule === undefined ? {} : { rule }) },
    });
  return (raw) => {
    const name = kind.parseName(raw);
    if (typeof name === "string") throw forbid(raw, `is invalid: ${name}`);
    const denial = denyMatcher?.denies(name);
    if (denial !== undefined) {
      const why =
        denial.covered === undefined
          ? `is denied by ${policy} (rule ${quote(denial.rule)})`
          : `is denied by ${policy}: it covers ${quote(denial.covered)}, which rule ${quote(denial.rule)} denies`;
      throw forbid(raw, why, denial.rule);
    }
    if (!allowList) return;
    if (allowMatcher === undefined) throw forbid(raw, `is not allowed by ${policy}: it allows no ${kind.plural}`);
    if (!allowMatcher.allows(name)) {
      throw forbid(
        raw,
        kind.isWildcard?.(name) === true
          ? `is not allowed by ${policy}: no allowed ${kind.ruleNoun} covers every name the wildcard stands for`
          : `is not allowed by ${policy}: it matches no allowed ${kind.ruleNoun}`,
      );
    }
  };
}

/** Quotes client input for a message: escaped, so it cannot forge log lines, and bounded. */
function quote(s: string): string {
  return JSON.stringify(s.length > 256 ? `${s.slice(0, 256)}…` : s);
}

// ---------------------------------------------------------------------------------------------
// DNS

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ALL_DIGITS = /^[0-9]+$/;
const NON_ASCII = /[^\x00-\x7f]/;

/** Why a lower-case name without wildcards is not a valid host name, or undefined. */
function hostnameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (name.length > 253) return "is longer than 253 characters";
  const labels = name.split(".");
  for (const label of labels) {
    if (label === "") return "has an empty label";
    if (label.length > 63) return "has a label longer than 63 characters";
    if (!LABEL.test(label)) {
      return `has an invalid label ${quote(label)} (labels are letters, digits and '-', not starting or ending with '-')`;
    }
  }
  if (ALL_DIGITS.test(labels[labels.length - 1]!)) {
    return "ends in an all-numeric label, so it reads as an IP address (use an IP rule or IP SAN)";
  }
  return undefined;
}

// Checked on the raw input: toLowerCase would turn some non-ASCII letters (U+212A KELVIN SIGN)
// into ASCII ones and let a look-alike name through.
function nonAsciiProblem(name: string): string | undefined {
  if (!NON_ASCII.test(name)) return undefined;
  const aLabel = domainToASCII(name.toLowerCase());
  const hint = aLabel !== "" && !NON_ASCII.test(aLabel) ? ` (here ${quote(aLabel)})` : "";
  return `contains non-ASCII characters; internationalised names must be given as punycode A-labels${hint}`;
}

const MISPLACED_WILDCARD = `a wildcard may only be the whole left-most label, as in "*.example.com"`;

/** A requested DNS name; `base` is set for a wildcard `*.base`. */
interface DnsName {
  name: string;
  base: string | undefined;
}

function parseDnsName(raw: string): DnsName | string {
  const nonAscii = nonAsciiProblem(raw);
  if (nonAscii !== undefined) return nonAscii;
  let name = raw.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name === "*") return `a bare "*" is not a name; a wildcard needs a domain, as in "*.example.com"`;
  if (name.length > 253) return "is longer than 253 characters";
  const base = name.startsWith("*.") ? name.slice(2) : undefined;
  if ((base ?? name).includes("*")) return MISPLACED_WILDCARD;
  const problem = hostnameProblem(base ?? name);
  return problem ?? { name, base };
}

function parseDnsRule(raw: string): { canonical: string } | string {
  const nonAscii = nonAsciiProblem(raw);
  if (nonAscii !== undefined) return nonAscii;
  const rule = raw.toLowerCase();
  if (rule === "*") return { canonical: rule };
  if (rule.endsWith(".")) return "must not end with a dot";
  const base = rule.startsWith("*.") ? rule.slice(2) : rule.startsWith(".") ? rule.slice(1) : rule;
  if (base.includes("*")) return MISPLACED_WILDCARD;
  return hostnameProblem(base) ?? { canonical: rule };
}

/** Calls `visit` with `name` (if `inclusive`) and each of its parent domains, until it returns a value. */
function walkParents<R>(name: string, inclusive: boolean, visit: (domain: string) => R | undefined): R | undefined {
  if (inclusive) {
    const hit = visit(name);
    if (hit !== undefined) return hit;
  }
  for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
    const hit = visit(name.slice(dot + 1));
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function compileDns(rules: readonly string[]): Matcher<DnsName> {
  let any: string | undefined;
  const exact = new Map<string, string>();
  // Parent domain of each exact rule → that rule: a requested `*.parent` stands for it.
  const exactParents = new Map<string, string>();
  const oneLabel = new Map<string, string>(); // `*.base` keyed by base
  const subdomains = new Map<string, string>(); // `.base` keyed by base
  for (const rule of rules) {
    if (rule === "*") any ??= rule;
    else if (rule.startsWith("*.")) setOnce(oneLabel, rule.slice(2), rule);
    else if (rule.startsWith(".")) setOnce(subdomains, rule.slice(1), rule);
    else {
      setOnce(exact, rule, rule);
      const dot = rule.indexOf(".");
      if (dot >= 0) setOnce(exactParents, rule.slice(dot + 1), rule);
    }
  }
  const inSubdomains = (d: string): string | undefined => subdomains.get(d);

  const matchName = (name: string): string | undefined => {
    if (any !== undefined) return any;
    const hit = exact.get(name);
    if (hit !== undefined) return hit;
    const dot = name.indexOf(".");
    if (dot >= 0) {
      const parentHit = oneLabel.get(name.slice(dot + 1));
      if (parentHit !== undefined) return parentHit;
    }
    return walkParents(name, false, inSubdomains);
  };

  // Rules matching every `x.base`: `*`, `*.base`, and `.d` for `base` itself or any parent d.
  const coverAll = (base: string): string | undefined =>
    any ?? oneLabel.get(base) ?? walkParents(base, true, inSubdomains);

  return {
    allows: (n) => (n.base === undefined ? matchName(n.name) : coverAll(n.base)) !== undefined,
    denies: (n) => {
      if (n.base === undefined) {
        const rule = matchName(n.name);
        return rule === undefined ? undefined : { rule };
      }
      const rule = coverAll(n.base);
      if (rule !== undefined) return { rule };
      const single = exactParents.get(n.base);
      return single === undefined ? undefined : { rule: single, covered: single };
    },
  };
}

/** A matcher for kinds without wildcard requests, where allowing and denying are the same test. */
function ruleMatcher<T>(match: (name: T) => string | undefined): Matcher<T> {
  return {
    allows: (name) => match(name) !== undefined,
    denies: (name) => {
      const rule = match(name);
      return rule === undefined ? undefined : { rule };
    },
  };
}

function setOnce<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (!map.has(key)) map.set(key, value);
}

// ---------------------------------------------------------------------------------------------
// IP

interface IpAddress {
  v6: boolean;
  value: bigint;
}

const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;
const MAPPED_PREFIX = 0xffffn; // ::ffff:0:0/96, shifted right by 32

/** Parses an address as written; node refuses `010.0.0.1`, which some parsers read as octal. */
function parseIpText(s: string): IpAddress | undefined {
  if (isIP(s) === 0 || s.includes("%")) return undefined; // a zone means nothing off-host
  const bytes = ipToBytes(s);
  return { v6: bytes.length === 16, value: BigInt(`0x${bytes.toString("hex")}`) };
}

/** Parses an address; an IPv4-mapped IPv6 address is returned as IPv4. */
function parseIp(s: string): IpAddress | undefined {
  const a = parseIpText(s);
  if (a?.v6 === true && a.value >> 32n === MAPPED_PREFIX) return { v6: false, value: a.value & 0xffffffffn };
  return a;
}

/** Canonical text: dotted IPv4, RFC 5952 IPv6. */
function formatIp(a: IpAddress): string {
  return formatIpBytes(Buffer.from(a.value.toString(16).padStart(a.v6 ? 32 : 8, "0"), "hex"));
}

interface IpRule {
  address: IpAddress;
  prefix: number;
}

function parseIpRuleParts(raw: string): IpRule | string {
  const slash = raw.indexOf("/");
  const addressText = slash < 0 ? raw : raw.slice(0, slash);
  const prefixText = slash < 0 ? undefined : raw.slice(slash + 1);
  const parsed = parseIpText(addressText);
  if (parsed === undefined) return `${quote(addressText)} is not an IPv4 or IPv6 address`;
  const { v6, value: address } = parsed;
  const bits = v6 ? 128 : 32;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!PREFIX.test(prefixText) || Number(prefixText) > bits) return `the prefix length must be 0-${bits}`;
    prefix = Number(prefixText);
  }
  // Requests match mapped addresses as IPv4, so a rule inside ::ffff:0:0/96 is rewritten as one.
  if (v6 && prefix >= 96 && address >> 32n === MAPPED_PREFIX) {
    return { address: { v6: false, value: address & 0xffffffffn }, prefix: prefix - 96 };
  }
  return { address: { v6, value: address }, prefix };
}

function parseIpRule(raw: string): { canonical: string } | string {
  const rule = parseIpRuleParts(raw);
  if (typeof rule === "string") return rule;
  const { address, prefix } = rule;
  const hostBits = BigInt((address.v6 ? 128 : 32) - prefix);
  const network = (address.value >> hostBits) << hostBits;
  // Refused rather than masked: `10.1.0.0/8` is more likely a typo for /16 than a wish for /8.
  if (network !== address.value) {
    return `has host bits set (did you mean ${quote(`${formatIp({ v6: address.v6, value: network })}/${prefix}`)}?)`;
  }
  return { canonical: `${formatIp(address)}/${prefix}` };
}

function parseIpName(raw: string): IpAddress | string {
  return parseIp(raw) ?? "is not an IPv4 or IPv6 address";
}

interface PrefixTable {
  shift: bigint;
  networks: Map<bigint, string>; // address >> shift → rule
}

function compileIp(rules: readonly string[]): Matcher<IpAddress> {
  // One table per prefix length: a check costs one shift and lookup per distinct length.
  const tables = { v4: new Map<number, PrefixTable>(), v6: new Map<number, PrefixTable>() };
  for (const rule of rules) {
    const parsed = parseIpRuleParts(rule);
    if (typeof parsed === "string") throw new SignetError("internal", `IP rule ${quote(rule)} was not validated`);
    const family = parsed.address.v6 ? tables.v6 : tables.v4;
    const shift = BigInt((parsed.address.v6 ? 128 : 32) - parsed.prefix);
    let table = family.get(parsed.prefix);
    if (table === undefined) family.set(parsed.prefix, (table = { shift, networks: new Map() }));
    setOnce(table.networks, parsed.address.value >> shift, rule);
  }
  return ruleMatcher((a) => {
    for (const table of (a.v6 ? tables.v6 : tables.v4).values()) {
      const rule = table.networks.get(a.value >> table.shift);
      if (rule !== undefined) return rule;
    }
    return undefined;
  });
}

// ---------------------------------------------------------------------------------------------
// Globs, for URI and commonName rules

const STAR = -1; // any run without '/'
const ANY = -2; // any run at all
const HOST_STAR = -3; // any run within a URI's authority: without '/', '?' or '#'
const SLASH = 0x2f;
const QUESTION = 0x3f;
const HASH = 0x23;

function globAccepts(token: number, c: number): boolean {
  switch (token) {
    case ANY:
      return true;
    case STAR:
      return c !== SLASH;
    case HOST_STAR:
      return c !== SLASH && c !== QUESTION && c !== HASH;
    default:
      return false;
  }
}

/**
 * A glob compiled once. Matching simulates the pattern as an NFA, O(name × pattern) in the worst
 * case: a regex of several `.*` backtracks exponentially on a hostile name (a 4-glob pattern took
 * over a second on a 256-character URI), and names come from clients.
 */
class Glob {
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly tokens: Int32Array; // char codes and globs; starts and ends with a glob
  // Reused by every test(): matching is synchronous, so no two calls overlap.
  private readonly cur: Uint8Array;
  private readonly next: Uint8Array;

  /** `star` gives the token for a single `*` at index i; a run of two or more is always ANY. */
  constructor(pattern: string, star: (i: number) => number) {
    const tokens: number[] = [];
    for (let i = 0; i < pattern.length; ) {
      if (pattern[i] !== "*") {
        tokens.push(pattern.charCodeAt(i++));
        continue;
      }
      let j = i;
      while (pattern[j] === "*") j++;
      tokens.push(j - i > 1 ? ANY : star(i));
      i = j;
    }
    const first = tokens.findIndex((t) => t < 0);
    let last = tokens.length - 1;
    while (last >= 0 && tokens[last]! >= 0) last--;
    this.prefix = String.fromCharCode(...tokens.slice(0, first));
    this.suffix = String.fromCharCode(...tokens.slice(last + 1));
    this.tokens = Int32Array.from(tokens.slice(first, last + 1));
    this.cur = new Uint8Array(this.tokens.length + 1);
    this.next = new Uint8Array(this.tokens.length + 1);
  }

  test(s: string): boolean {
    const { prefix, suffix, tokens } = this;
    const end = s.length - suffix.length;
    if (end < prefix.length || !s.startsWith(prefix) || !s.endsWith(suffix)) return false;
    const m = tokens.length;
    if (m === 1) {
      // The common `.../**` and `.../*`: one glob spanning the middle.
      for (let i = prefix.length; i < end; i++) if (!globAccepts(tokens[0]!, s.charCodeAt(i))) return false;
      return true;
    }
    let cur = this.cur;
    let next = this.next;
    cur.fill(0);
    cur[0] = 1;
    this.closure(cur);
    for (let i = prefix.length; i < end; i++) {
      const c = s.charCodeAt(i);
      next.fill(0);
      let alive = false;
      for (let j = 0; j < m; j++) {
        if (cur[j] === 0) continue;
        const t = tokens[j]!;
        if (t === c) {
          next[j + 1] = 1;
          alive = true;
        } else if (globAccepts(t, c)) {
          next[j] = 1;
          alive = true;
        }
      }
      if (!alive) return false;
      this.closure(next);
      [cur, next] = [next, cur];
    }
    return cur[m] === 1;
  }

  /** A glob may match nothing: being before one means also being after it. */
  private closure(states: Uint8Array): void {
    for (let j = 0; j < this.tokens.length; j++) if (states[j] === 1 && this.tokens[j]! < 0) states[j + 1] = 1;
  }
}

/** Exact rules in a map, the rest as globs; matches the first rule that `key(name)` fits. */
function globMatcher<T>(rules: readonly string[], star: (rule: string) => (i: number) => number, key: (name: T) => string): Matcher<T> {
  const exact = new Map<string, string>();
  const globs: { rule: string; glob: Glob }[] = [];
  for (const rule of rules) {
    if (rule.includes("*")) globs.push({ rule, glob: new Glob(rule, star(rule)) });
    else setOnce(exact, rule, rule);
  }
  return ruleMatcher((name) => {
    const text = key(name);
    const hit = exact.get(text);
    if (hit !== undefined) return hit;
    for (const { rule, glob } of globs) if (glob.test(text)) return rule;
    return undefined;
  });
}

// ---------------------------------------------------------------------------------------------
// URI

// RFC 3986 characters; anything else must be percent-encoded.
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const PERCENT = /%(.{0,2})/g;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
// WHATWG normalises these; for them, a URI must already be in the normal form.
const SPECIAL_SCHEMES = new Set(["http", "https", "ws", "wss", "ftp"]);
const SPIFFE_TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SPIFFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

interface UriParts {
  scheme: string; // lower-case
  authority: string | undefined; // lower-case, without the leading "//"
  rest: string; // path, query and fragment
}

/** Splits a URI or URI pattern, refusing what every URI must get right. */
function splitUri(raw: string): UriParts | string {
  if (!URI_CHARS.test(raw)) {
    return "contains characters a URI may not (spaces, non-ASCII and controls must be percent-encoded)";
  }
  for (const [, hex] of raw.matchAll(PERCENT)) {
    if (hex === undefined || !HEX2.test(hex)) return "has a '%' that does not start a percent-escape";
    const char = String.fromCharCode(parseInt(hex, 16));
    if (UNRESERVED.test(char)) return `percent-encodes ${quote(char)}, which must be written as itself`;
  }
  const scheme = SCHEME.exec(raw)?.[1];
  if (scheme === undefined) return "is not an absolute URI (it needs a scheme such as spiffe: or https:)";
  let rest = raw.slice(scheme.length + 1);
  let authority: string | undefined;
  if (rest.startsWith("//")) {
    const end = rest.slice(2).search(/[/?#]/);
    authority = end < 0 ? rest.slice(2) : rest.slice(2, end + 2);
    rest = end < 0 ? "" : rest.slice(end + 2);
    if (authority.includes("@")) return "contains user information, which does not belong in a certificate";
    authority = authority.toLowerCase();
  }
  return { scheme: scheme.toLowerCase(), authority, rest };
}

/** The form rules and names are compared in; `asWritten` keeps percent-escapes as they were. */
function joinUri(u: UriParts, asWritten = false): string {
  const rest = asWritten ? u.rest : u.rest.replace(PERCENT, (escape) => escape.toUpperCase());
  return `${u.scheme}:${u.authority === undefined ? "" : `//${u.authority}`}${rest}`;
}

function spiffeProblem(raw: string): string | undefined {
  if (!raw.startsWith("spiffe://")) return `a SPIFFE ID must start with "spiffe://" in lower case`;
  const afterScheme = raw.slice("spiffe://".length);
  if (/[?#]/.test(afterScheme)) return "a SPIFFE ID may not have a query or fragment";
  const slash = afterScheme.indexOf("/");
  const trustDomain = slash < 0 ? afterScheme : afterScheme.slice(0, slash);
  if (trustDomain === "") return "a SPIFFE ID needs a trust domain";
  if (!SPIFFE_TRUST_DOMAIN.test(trustDomain)) {
    return "a SPIFFE trust domain is lower-case letters, digits, '.', '-' and '_' (no port or user information)";
  }
  if (slash < 0) return undefined;
  for (const segment of afterScheme.slice(slash + 1).split("/")) {
    if (segment === "") return "a SPIFFE ID path may not have empty segments or a trailing '/'";
    if (segment === "." || segment === "..") return "a SPIFFE ID path may not have '.' or '..' segments";
    if (!SPIFFE_SEGMENT.test(segment)) return "a SPIFFE ID path segment is letters, digits, '.', '-' and '_'";
  }
  return undefined;
}

function parseUriName(raw: string): string | { uri: string } {
  const u = splitUri(raw);
  if (typeof u === "string") return u;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "cannot be parsed as a URI";
  }
  const path = u.rest.split(/[?#]/, 1)[0]!;
  if (path.split("/").some((s) => s === "." || s === "..")) return "has '.' or '..' path segments";
  const written = joinUri(u, true);
  if (SPECIAL_SCHEMES.has(u.scheme) && written !== url.href && `${written}/` !== url.href) {
    return `is not in canonical form (expected ${quote(url.href)})`;
  }
  if (u.scheme === "spiffe") {
    const problem = spiffeProblem(raw);
    if (problem !== undefined) return problem;
  }
  return { uri: joinUri(u) };
}

function parseUriRule(raw: string): { canonical: string } | string {
  if (!SCHEME.test(raw)) return "does not start with a literal scheme such as spiffe: or https:";
  const u = splitUri(raw);
  if (typeof u === "string") return u;
  if (u.authority?.includes("**")) return `"**" may not be used in the host; use "*"`;
  const canonical = joinUri(u);
  // Parse with each glob replaced by something its place accepts ("0" for a port), to catch e.g.
  // a bad port, and to see whether WHATWG would rewrite the rule into a form no request can have.
  const sample = canonical.replace(/(:?)\*+/g, (_, colon: string) => (colon === "" ? "x" : ":0"));
  let url: URL;
  try {
    url = new URL(sample);
  } catch {
    return "cannot be parsed as a URI";
  }
  if (SPECIAL_SCHEMES.has(u.scheme) && url.href !== sample && url.href !== `${sample}/`) {
    const expected = canonical.includes("*") ? "" : ` (expected ${quote(url.href)})`;
    return `is not in canonical form, so no request could match it${expected}`;
  }
  if (u.scheme === "spiffe") {
    const problem = spiffeProblem(sample);
    if (problem !== undefined) return problem;
  }
  return { canonical };
}

function compileUri(rules: readonly string[]): Matcher<{ uri: string }> {
  // A `*` in the host must not run on into the path, query or fragment: `foo://*.example.com/**`
  // would otherwise match `foo://evil.com?.example.com/`.
  const star = (rule: string) => {
    const u = splitUri(rule);
    const hostEnd = typeof u === "string" || u.authority === undefined ? 0 : u.scheme.length + 3 + u.authority.length;
    return (i: number) => (i < hostEnd ? HOST_STAR : STAR);
  };
  return globMatcher(rules, star, (n: { uri: string }) => n.uri);
}

// ---------------------------------------------------------------------------------------------
// Email

// RFC 5322 dot-atom; quoted local parts are refused, as they may hide an '@'.
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

interface Mailbox {
  local: string;
  domain: string;
}

function parseMailbox(raw: string): Mailbox | string {
  if (NON_ASCII.test(raw)) return "contains non-ASCII characters (internationalised addresses are not supported)";
  const at = raw.indexOf("@");
  if (at < 0 || at !== raw.lastIndexOf("@")) return "must contain exactly one '@'";
  const local = raw.slice(0, at);
  if (local === "") return "has an empty local part";
  if (!DOT_ATOM.test(local)) return "has a local part with characters or dots not allowed in a dot-atom";
  const domain = raw.slice(at + 1).toLowerCase();
  const problem = hostnameProblem(domain);
  return problem === undefined ? { local, domain } : `has a domain that ${problem}`;
}

function parseEmailRule(raw: string): { canonical: string } | string {
  if (raw.includes("@")) {
    const m = parseMailbox(raw);
    return typeof m === "string" ? m : { canonical: `${m.local}@${m.domain}` };
  }
  const nonAscii = nonAsciiProblem(raw);
  if (nonAscii !== undefined) return nonAscii;
  const rule = raw.toLowerCase();
  const problem = hostnameProblem(rule.startsWith(".") ? rule.slice(1) : rule);
  return problem === undefined ? { canonical: rule } : `has a domain that ${problem}`;
}

function compileEmail(rules: readonly string[]): Matcher<Mailbox> {
  const mailboxes = new Map<string, string>();
  const hosts = new Map<string, string>();
  const subdomains = new Map<string, string>();
  for (const rule of rules) {
    if (rule.includes("@")) setOnce(mailboxes, rule, rule);
    else if (rule.startsWith(".")) setOnce(subdomains, rule.slice(1), rule);
    else setOnce(hosts, rule, rule);
  }
  return ruleMatcher(
    (m) => mailboxes.get(`${m.local}@${m.domain}`) ?? hosts.get(m.domain) ?? walkParents(m.domain, false, (d) => subdomains.get(d)),
  );
}

// ---------------------------------------------------------------------------------------------

const KINDS: Record<NameKind, KindDef> = {
  dns: defineKind({
    key: "dns",
    noun: "DNS name",
    plural: "DNS names",
    ruleNoun: "DNS rule",
    parseName: parseDnsName,
    parseRule: parseDnsRule,
    compile: compileDns,
    isWildcard: (n) => n.base !== undefined,
  }),
  ip: defineKind({
    key: "ip",
    noun: "IP address",
    plural: "IP addresses",
    ruleNoun: "IP rule",
    parseName: parseIpName,
    parseRule: parseIpRule,
    compile: compileIp,
  }),
  uri: defineKind({
    key: "uri",
    noun: "URI",
    plural: "URIs",
    ruleNoun: "URI rule",
    parseName: parseUriName,
    parseRule: parseUriRule,
    compile: compileUri,
  }),
  email: defineKind({
    key: "email",
    noun: "email address",
    plural: "email addresses",
    ruleNoun: "email rule",
    parseName: parseMailbox,
    parseRule: parseEmailRule,
    compile: compileEmail,
  }),
  commonName: defineKind({
    key: "commonName",
    noun: "common name",
    plural: "common names",
    ruleNoun: "common name rule",
    parseName: (raw) => ({ cn: raw }),
    parseRule: (raw) => ({ canonical: raw }),
    compile: (rules) => globMatcher(rules, () => () => ANY, (n: { cn: string }) => n.cn),
  }),
};
