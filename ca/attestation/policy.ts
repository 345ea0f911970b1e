// The posture policy: Cedar policies that turn verified evidence into a decision.
//
// Each enrolment is one Cedar request:
//   principal  Workload::"<evidence.subject>"
//   action     Action::"enrol"
//   resource   Provisioner::"<provisioner name>"
//   context    { type, issuer, subject, nodeId ("" when unknown), ageSeconds (now - issuedAt, 0 when
//                unknown), claims }
// with no entities and no schema, e.g.
//   permit (principal, action == Action::"enrol", resource)
//   when { context.type == "kubernetes" && context.claims.namespace == "inference" };
// Claims the Cedar JSON format cannot carry are left out of context.claims: numbers that are not
// safe integers (Cedar has no floats) and names starting with "__" (Cedar's JSON escapes).
//
// Annotations give a permit's outcome; anything else is refused when the policy is loaded:
//   @id("k8s-inference")        a readable id for reasons and audit (default: Cedar's policy0, policy1...)
//   @identity("spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}")
//   @dns("{serviceAccount}.{namespace}.svc,{podName}.pods.internal")   comma-separated templates
//   @ip("{podIP}")   @roles("inference:invoke,metrics:read")
//   @lifetime("1h")             30s, 15m, 1h, 24h, 7d, or sums such as 1h30m
//   @profile("client")          one of the certificate profiles
// A forbid carries only @id and @reason("image digest not on the approved list").
//
// Templates: {claimName} is the claim's value, {trustDomain} the authority's trust domain. A claim
// that is missing or not a string makes the permit not applicable (the next one is tried), except
// that a template that is exactly one placeholder, in @dns, @ip or @roles, takes a list claim as one
// item per element. A value that would be unsafe where it lands refuses the evidence outright, with
// a reason naming the claim: DNS names take only [A-Za-z0-9.-] (then lower-cased), SPIFFE ID path
// segments only [A-Za-z0-9._-], roles the role characters. An @identity that is exactly one
// placeholder takes a whole SPIFFE ID of this trust domain or a plain name of [A-Za-z0-9._:@-].
// An identity that is a SPIFFE ID is also the certificate's SPIFFE ID; with no @identity the
// workload is recorded under its evidence subject.
//
// Deciding:
// - Any forbid that holds refuses, with the forbids' @reason texts (or "forbidden by policy <id>").
//   A forbid that fails to evaluate also refuses. Cedar itself skips a policy whose evaluation errs,
//   which for a forbid reading a claim the evidence lacks would let the evidence through; guard
//   such reads with `context.claims has name`.
// - Otherwise the first permit that holds, in file order, gives the whole outcome. Outcomes are not
//   merged: a broad permit further down must not widen the names or roles of a narrow one. `reasons`
//   of an allow lists that permit first, then the other permits that also held.
// - Nothing holds: "no posture policy allows this evidence".
// Reasons never quote a claim's value or Cedar's evaluation messages (which can): evidence is a
// bearer credential and reasons reach the client.
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { cedar, type CedarWasm } from "../policy/cedar.js";
import { SignetError } from "../errors.js";
import { isProfileName, PROFILE_NAMES, type ProfileName } from "../profiles.js";
import { MAX_IDENTITY, MAX_ROLES } from "../provisioners/common.js";
import type { AllowDecision, Decision, Evidence } from "./types.js";

export interface PosturePolicyOptions {
  /** The trust domain SPIFFE IDs are issued in; `{trustDomain}` in templates. */
  trustDomain: string;
}

export interface PosturePolicyEntry {
  id: string;
  effect: "permit" | "forbid";
  /** 1-based line of the policy in the text (0 if it cannot be told). */
  line: number;
}

export interface PosturePolicy {
  /** sha256 of the policy text, first 16 hex characters. */
  readonly version: string;
  readonly policies: readonly PosturePolicyEntry[];
  decide(evidence: Evidence, provisioner: string, now: Date): Decision;
}


const NO_PERMIT = "no posture policy allows this evidence";
const UNEVALUABLE = `could not be evaluated for this evidence (a claim it reads may be missing: guard it with "has")`;

const PERMIT_ANNOTATIONS = new Set(["id", "identity", "dns", "ip", "roles", "lifetime", "profile"]);
const FORBID_ANNOTATIONS = new Set(["id", "reason"]);

const POLICY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const PLACEHOLDER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const LIFETIME = /^(?:\d{1,6}[smhd])+$/;
const LIFETIME_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MAX_REASON = 512;

// ---------------------------------------------------------------------------------------------
// Templates

type Piece = { text: string } | { claim: string };

interface Template {
  source: string;
  pieces: Piece[];
  /** The claim name when the template is exactly one placeholder. */
  whole: string | null;
}

/** Where a rendered value goes: which characters a claim's value may have there, and what the
 * rendered result must be. */
interface Slot {
  annotation: string;
  /** What a claim value must match here, in words, for reasons. */
  valueRule: string;
  /** The claim value as it is used, or undefined if it is unsafe here. */
  value(v: string): string | undefined;
  /** Why the rendered result is not acceptable, or undefined. */
  problem(s: string): string | undefined;
  literal: RegExp;
  lists: boolean;
  /** A value safe here, to find templates that can render nothing valid whatever the claims say. */
  sample?: string;
}

const DNS_VALUE = /^[A-Za-z0-9.-]+$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IP_VALUE = /^[0-9A-Fa-f:.]+$/;
// The role syntax of validateRoles (provisioners/common.ts), which says it by throwing.
const ROLE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/;
const ROLE_VALUE = /^[A-Za-z0-9._:/@-]+$/;
const SPIFFE_SEGMENT = /^[A-Za-z0-9._-]+$/;
const PLAIN_IDENTITY = /^[A-Za-z0-9._:@-]+$/;

function hostnameProblem(name: string): string | undefined {
  if (name.length > 253) return "is longer than 253 characters";
  const labels = name.split(".");
  if (!labels.every((l) => DNS_LABEL.test(l))) return "is not a DNS name (labels of 1-63 letters, digits and '-', not starting or ending with '-')";
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return "ends in an all-numeric label";
  return undefined;
}

function spiffeIdProblem(id: string, trustDomain: string): string | undefined {
  const prefix = `spiffe://${trustDomain}/`;
  if (!id.startsWith(prefix)) return `is not a SPIFFE ID in the trust domain ${trustDomain}`;
  if (id.length > MAX_IDENTITY) return `is longer than ${MAX_IDENTITY} characters`;
  for (const segment of id.slice(prefix.length).split("/")) {
    if (segment === "" || segment === "." || segment === ".." || !SPIFFE_SEGMENT.test(segment)) {
      return "has a path segment that is empty, '.', '..' or has characters other than A-Z a-z 0-9 . _ -";
    }
  }
  return undefined;
}

const DNS_SLOT: Slot = {
  annotation: "dns",
  valueRule: "a DNS name (A-Z a-z 0-9 . - only)",
  value: (v) => (DNS_VALUE.test(v) ? v.toLowerCase() : undefined),
  problem: (s) => hostnameProblem(s.toLowerCase()),
  literal: /^[A-Za-z0-9.-]*$/,
  lists: true,
  sample: "x",
};

const IP_SLOT: Slot = {
  annotation: "ip",
  valueRule: "an IP address",
  value: (v) => (IP_VALUE.test(v) ? v : undefined),
  problem: (s) => (isIP(s) === 0 ? "is not an IP address" : undefined),
  literal: /^[0-9A-Fa-f:.]*$/,
  lists: true,
};

const ROLE_SLOT: Slot = {
  annotation: "roles",
  valueRule: "a role (A-Z a-z 0-9 . _ : / @ - only)",
  value: (v) => (ROLE_VALUE.test(v) ? v : undefined),
  problem: (s) => (ROLE.test(s) ? undefined : "is not a role (1-128 of A-Z a-z 0-9 . _ : / @ -, starting with a letter or digit)"),
  literal: /^[A-Za-z0-9._:/@-]*$/,
  lists: true,
  sample: "x",
};

function spiffeSlot(trustDomain: string): Slot {
  return {
    annotation: "identity",
    valueRule: "a SPIFFE ID path segment (A-Z a-z 0-9 . _ - only, not '.' or '..')",
    value: (v) => (SPIFFE_SEGMENT.test(v) && v !== "." && v !== ".." ? v : undefined),
    problem: (s) => spiffeIdProblem(s, trustDomain),
    literal: /^[A-Za-z0-9._/:-]*$/,
    lists: false,
    sample: "x",
  };
}

function plainIdentityProblem(s: string): string | undefined {
  return s.length > MAX_IDENTITY ? `is longer than ${MAX_IDENTITY} characters` : undefined;
}

const PLAIN_IDENTITY_SLOT: Slot = {
  annotation: "identity",
  valueRule: "an identity (A-Z a-z 0-9 . _ : @ - only)",
  value: (v) => (PLAIN_IDENTITY.test(v) ? v : undefined),
  problem: plainIdentityProblem,
  literal: PLAIN_IDENTITY,
  lists: false,
  sample: "x",
};

/** `@identity("{claim}")`: the claim is a whole SPIFFE ID of this trust domain, or a plain name. */
function wholeIdentitySlot(trustDomain: string): Slot {
  return {
    annotation: "identity",
    valueRule: `a SPIFFE ID in the trust domain ${trustDomain} or an identity of A-Z a-z 0-9 . _ : @ -`,
    value: (v) => (v.startsWith("spiffe://") ? (spiffeIdProblem(v, trustDomain) ? undefined : v) : PLAIN_IDENTITY.test(v) ? v : undefined),
    problem: plainIdentityProblem,
    literal: /^$/,
    lists: false,
  };
}

function parseTemplate(source: string, trustDomain: string): Template | string {
  const pieces: Piece[] = [];
  let text = "";
  for (let i = 0; i < source.length; ) {
    const c = source[i]!;
    if (c === "}") return `has a "}" without a "{"`;
    if (c !== "{") {
      text += c;
      i++;
      continue;
    }
    const end = source.indexOf("}", i);
    if (end < 0) return `has a "{" without a "}"`;
    const name = source.slice(i + 1, end);
    if (!PLACEHOLDER.test(name)) return `has an invalid placeholder {${name}} (a claim name: a letter or _, then letters, digits or _)`;
    if (name === "trustDomain") {
      text += trustDomain;
    } else {
      if (text !== "") pieces.push({ text });
      text = "";
      pieces.push({ claim: name });
    }
    i = end + 1;
  }
  if (text !== "") pieces.push({ text });
  if (pieces.length === 0) return "is empty";
  const only = pieces.length === 1 ? pieces[0]! : undefined;
  return { source, pieces, whole: only && "claim" in only ? only.claim : null };
}

type Rendered = { values: string[] } | { notApplicable: string } | { refuse: string };

function render(t: Template, slot: Slot, claims: Evidence["claims"], policyId: string): Rendered {
  const where = `policy ${policyId} (@${slot.annotation})`;
  const unsafe = (claim: string): Rendered => ({ refuse: `${where}: claim "${claim}" has a value that cannot be used as ${slot.valueRule}` });
  if (t.whole !== null && slot.lists && Object.hasOwn(claims, t.whole) && Array.isArray(claims[t.whole])) {
    const values: string[] = [];
    for (const item of claims[t.whole] as unknown[]) {
      const v = typeof item === "string" ? slot.value(item) : undefined;
      if (v === undefined || slot.problem(v) !== undefined) return unsafe(t.whole);
      values.push(v);
    }
    return { values };
  }
  let out = "";
  const used: string[] = [];
  for (const piece of t.pieces) {
    if ("text" in piece) {
      out += piece.text;
      continue;
    }
    if (!Object.hasOwn(claims, piece.claim)) return { notApplicable: `${where} does not apply: claim "${piece.claim}" is missing` };
    const raw = claims[piece.claim];
    if (typeof raw !== "string") return { notApplicable: `${where} does not apply: claim "${piece.claim}" is not a string` };
    const v = slot.value(raw);
    if (v === undefined) return unsafe(piece.claim);
    used.push(piece.claim);
    out += v;
  }
  const problem = slot.problem(out);
  if (problem !== undefined) {
    return { refuse: `${where}: the value made from claim${used.length > 1 ? "s" : ""} ${used.map((c) => `"${c}"`).join(", ")} ${problem}` };
  }
  return { values: [slot.annotation === "dns" ? out.toLowerCase() : out] };
}

// ---------------------------------------------------------------------------------------------
// Loading

interface Outcome {
  identity: { template: Template; slot: Slot } | null;
  dns: Template[];
  ip: Template[];
  roles: Template[];
  profile: ProfileName | null;
  lifetimeSeconds: number | null;
}

interface CompiledPolicy extends PosturePolicyEntry {
  /** Position in the file, for "first permit in file order". */
  index: number;
  reason: string | null;
  outcome: Outcome | null;
}

function badPolicy(message: string, cause?: unknown): SignetError {
  return new SignetError("bad_policy", message, cause === undefined ? undefined : { cause });
}

/** "line L, column C" of a UTF-8 byte offset (Cedar reports byte offsets). */
function position(bytes: Buffer, offset: number): string {
  const before = bytes.subarray(0, offset).toString("utf8");
  const lines = before.split("\n");
  return `line ${lines.length}, column ${lines[lines.length - 1]!.length + 1}`;
}

function describeCedarError(e: CedarWasm.DetailedError, bytes: Buffer | null): string {
  const loc = e.sourceLocations?.[0];
  const where = loc && bytes ? `${position(bytes, loc.start)}: ` : "";
  const label = loc?.label ? ` (${loc.label})` : "";
  const related = (e.related ?? []).map((r) => `; ${describeCedarError(r, bytes)}`).join("");
  return `${where}${e.message}${label}${related}`;
}

function cedarFailure(what: string, errors: CedarWasm.DetailedError[], text: string | null): SignetError {
  const bytes = text === null ? null : Buffer.from(text, "utf8");
  return badPolicy(`${what}: ${errors.map((e) => describeCedarError(e, bytes)).join("; ") || "unknown error"}`);
}

function parseLifetime(v: string): number | string {
  if (!LIFETIME.test(v)) return "is not a duration such as 30m, 1h, 24h or 7d";
  let seconds = 0;
  for (const [, n, unit] of v.matchAll(/(\d+)([smhd])/g)) seconds += Number(n) * LIFETIME_UNITS[unit!]!;
  return seconds > 0 ? seconds : "must be longer than zero";
}

function splitTemplates(value: string): string[] {
  return value.split(",").map((s) => s.trim());
}

function compileTemplate(source: string, slot: Slot, trustDomain: string, where: string): Template {
  const t = parseTemplate(source, trustDomain);
  if (typeof t === "string") throw badPolicy(`${where}: template ${JSON.stringify(source)} ${t}`);
  for (const piece of t.pieces) {
    if ("text" in piece && !slot.literal.test(piece.text)) {
      throw badPolicy(`${where}: template ${JSON.stringify(source)} has text that cannot be part of ${slot.valueRule}`);
    }
  }
  const literal = t.pieces.every((p) => "text" in p);
  if (literal || slot.sample !== undefined) {
    const problem = slot.problem(t.pieces.map((p) => ("text" in p ? p.text : slot.sample)).join(""));
    if (problem) throw badPolicy(`${where}: ${JSON.stringify(source)} ${literal ? "" : "can never render a valid value: with any claim it "}${problem}`);
  }
  return t;
}

function compileIdentity(source: string, trustDomain: string, where: string): { template: Template; slot: Slot } {
  const parsed = parseTemplate(source, trustDomain);
  if (typeof parsed !== "string" && parsed.whole !== null) return { template: parsed, slot: wholeIdentitySlot(trustDomain) };
  if (source.startsWith("spiffe://")) {
    const prefix = `spiffe://${trustDomain}/`;
    const expanded = source.replaceAll("{trustDomain}", trustDomain);
    if (!expanded.startsWith(prefix)) {
      throw badPolicy(`${where}: a SPIFFE ID template must start with spiffe://{trustDomain}/ (the trust domain is ${trustDomain})`);
    }
    return { template: compileTemplate(source, spiffeSlot(trustDomain), trustDomain, where), slot: spiffeSlot(trustDomain) };
  }
  return { template: compileTemplate(source, PLAIN_IDENTITY_SLOT, trustDomain, where), slot: PLAIN_IDENTITY_SLOT };
}

function compileAnnotations(
  effect: "permit" | "forbid",
  annotations: Record<string, string | null>,
  trustDomain: string,
  where: string,
): { reason: string | null; outcome: Outcome | null } {
  const known = effect === "permit" ? PERMIT_ANNOTATIONS : FORBID_ANNOTATIONS;
  for (const [key, value] of Object.entries(annotations)) {
    if (!known.has(key)) {
      const hint = PERMIT_ANNOTATIONS.has(key) || FORBID_ANNOTATIONS.has(key) ? ` (@${key} belongs on a ${effect === "permit" ? "forbid" : "permit"})` : "";
      throw badPolicy(`${where}: unknown annotation @${key}${hint}; a ${effect} may carry ${[...known].map((k) => `@${k}`).join(", ")}`);
    }
    if (value === null || value.trim() === "") throw badPolicy(`${where}: @${key} needs a value`);
  }
  const a = annotations as Record<string, string>;
  if (effect === "forbid") {
    const reason = a.reason ?? null;
    if (reason !== null && reason.length > MAX_REASON) throw badPolicy(`${where}: @reason is longer than ${MAX_REASON} characters`);
    return { reason, outcome: null };
  }
  const list = (key: string, slot: Slot) => (a[key] === undefined ? [] : splitTemplates(a[key]).map((s) => compileTemplate(s, slot, trustDomain, `${where} @${key}`)));
  const outcome: Outcome = {
    identity: a.identity === undefined ? null : compileIdentity(a.identity, trustDomain, `${where} @identity`),
    dns: list("dns", DNS_SLOT),
    ip: list("ip", IP_SLOT),
    roles: list("roles", ROLE_SLOT),
    profile: null,
    lifetimeSeconds: null,
  };
  if (outcome.roles.length > MAX_ROLES) throw badPolicy(`${where}: at most ${MAX_ROLES} roles`);
  if (a.profile !== undefined) {
    if (!isProfileName(a.profile)) throw badPolicy(`${where}: @profile ${JSON.stringify(a.profile)} is not one of ${PROFILE_NAMES.join(", ")}`);
    outcome.profile = a.profile;
  }
  if (a.lifetime !== undefined) {
    const seconds = parseLifetime(a.lifetime);
    if (typeof seconds === "string") throw badPolicy(`${where}: @lifetime ${JSON.stringify(a.lifetime)} ${seconds}`);
    outcome.lifetimeSeconds = seconds;
  }
  return { reason: null, outcome };
}

/** Parses and checks a posture policy, ready to decide. Throws SignetError("bad_policy"). */
export function compilePosturePolicy(text: string, opts: PosturePolicyOptions): PosturePolicy {
  if (!TRUST_DOMAIN.test(opts.trustDomain)) throw badPolicy(`trust domain ${JSON.stringify(opts.trustDomain)} is not lower-case letters, digits, '.', '_' and '-'`);
  const c = cedar();
  const parts = c.policySetTextToParts(text);
  if (parts.type === "failure") throw cedarFailure("the posture policy does not parse", parts.errors, text);
  if (parts.policy_templates.length > 0) throw badPolicy("the posture policy has Cedar templates (?principal or ?resource slots); only static policies are supported");
  if (parts.policies.length === 0) throw badPolicy(`the posture policy has no policies (to refuse everything, say so: forbid (principal, action, resource);)`);

  // Cedar names a text's policies policy0, policy1... in file order and returns them sorted by id
  // as strings (policy10 before policy2): undo that sort, then check the order against the text,
  // because "the first permit in file order" decides outcomes.
  const ids = parts.policies.map((_, i) => `policy${i}`).sort();
  const inOrder: string[] = new Array<string>(parts.policies.length);
  ids.forEach((id, k) => (inOrder[Number(id.slice("policy".length))] = parts.policies[k]!));
  const lines: number[] = [];
  let cursor = 0;
  for (const src of inOrder) {
    const at = text.indexOf(src, cursor);
    if (at < 0) throw badPolicy("the posture policy's order cannot be told from the Cedar parser's output");
    lines.push(text.slice(0, at).split("\n").length);
    cursor = at + src.length;
  }

  const compiled: CompiledPolicy[] = [];
  const seen = new Set<string>();
  inOrder.forEach((src, index) => {
    const json = c.policyToJson(src);
    if (json.type === "failure") throw cedarFailure(`the posture policy at line ${lines[index]} cannot be read`, json.errors, null);
    const annotations = (json.json.annotations ?? {}) as Record<string, string | null>;
    const rawId = annotations.id;
    if (rawId !== undefined && (rawId === null || !POLICY_ID.test(rawId))) {
      throw badPolicy(`posture policy at line ${lines[index]}: @id must be 1-128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit`);
    }
    const id = rawId ?? `policy${index}`;
    if (seen.has(id)) throw badPolicy(`posture policy at line ${lines[index]}: the id ${id} is used twice`);
    seen.add(id);
    const where = `posture policy ${id} (line ${lines[index]})`;
    const effect = json.json.effect;
    compiled.push({ id, effect, line: lines[index]!, index, ...compileAnnotations(effect, annotations, opts.trustDomain, where) });
  });

  const digest = createHash("sha256").update(text).digest("hex");
  const setId = `signet-posture-${digest}`;
  const staticPolicies: Record<string, string> = {};
  compiled.forEach((p, i) => (staticPolicies[p.id] = inOrder[i]!));
  const prepared = c.preparsePolicySet(setId, { staticPolicies });
  if (prepared.type === "failure") throw cedarFailure("the posture policy cannot be prepared", prepared.errors, null);
  return new CompiledPosturePolicy(digest.slice(0, 16), setId, compiled);
}

// ---------------------------------------------------------------------------------------------
// Deciding

function cedarClaims(claims: Evidence["claims"]): Record<string, CedarWasm.CedarValueJson> {
  const out: Array<[string, CedarWasm.CedarValueJson]> = [];
  for (const [k, v] of Object.entries(claims)) {
    if (k.startsWith("__")) continue;
    if (typeof v === "string" || typeof v === "boolean") out.push([k, v]);
    else if (typeof v === "number" && Number.isSafeInteger(v)) out.push([k, v]);
    else if (Array.isArray(v)) out.push([k, v.filter((x): x is string => typeof x === "string")]);
  }
  return Object.fromEntries(out);
}

class CompiledPosturePolicy implements PosturePolicy {
  readonly version: string;
  readonly policies: readonly PosturePolicyEntry[];
  readonly #setId: string;
  readonly #byId: Map<string, CompiledPolicy>;

  constructor(version: string, setId: string, compiled: CompiledPolicy[]) {
    this.version = version;
    this.policies = compiled.map(({ id, effect, line }) => ({ id, effect, line }));
    this.#setId = setId;
    this.#byId = new Map(compiled.map((p) => [p.id, p]));
  }

  decide(evidence: Evidence, provisioner: string, now: Date): Decision {
    const deny = (reasons: string[]): Decision => ({ allow: false, reasons: [...new Set(reasons)], policyVersion: this.version });
    const answer = cedar().statefulIsAuthorized({
      principal: { type: "Workload", id: evidence.subject },
      action: { type: "Action", id: "enrol" },
      resource: { type: "Provisioner", id: provisioner },
      context: {
        type: evidence.type,
        issuer: evidence.issuer,
        subject: evidence.subject,
        nodeId: evidence.nodeId ?? "",
        ageSeconds: evidence.issuedAt ? Math.floor((now.getTime() - evidence.issuedAt.getTime()) / 1000) : 0,
        claims: cedarClaims(evidence.claims),
      },
      entities: [],
      preparsedPolicySetId: this.#setId,
    });
    if (answer.type === "failure") return deny(["the posture policy could not evaluate this evidence"]);

    const { decision, diagnostics } = answer.response;
    const inFileOrder = (ids: string[]) => ids.map((id) => this.#byId.get(id)).filter((p): p is CompiledPolicy => p !== undefined).sort((a, b) => a.index - b.index);
    const errored = inFileOrder(diagnostics.errors.map((e) => e.policyId));
    const erroredForbids = errored.filter((p) => p.effect === "forbid").map((p) => `policy ${p.id} refuses: it ${UNEVALUABLE}`);
    const held = inFileOrder(diagnostics.reason);
    if (decision === "deny") {
      const forbids = held.filter((p) => p.effect === "forbid").map((p) => p.reason ?? `forbidden by policy ${p.id}`);
      if (forbids.length > 0 || erroredForbids.length > 0) return deny([...forbids, ...erroredForbids]);
      return deny([NO_PERMIT, ...errored.map((p) => `policy ${p.id} ${UNEVALUABLE}`)]);
    }
    if (erroredForbids.length > 0) return deny(erroredForbids);

    const notApplicable: string[] = [];
    for (const p of held) {
      const r = this.#outcome(p, evidence);
      if ("refuse" in r) return deny([r.refuse]);
      if ("notApplicable" in r) {
        notApplicable.push(r.notApplicable);
        continue;
      }
      const others = held.filter((q) => q !== p).map((q) => q.id);
      return { ...r.allow, reasons: [p.id, ...others], policyVersion: this.version };
    }
    return deny(notApplicable.length > 0 ? notApplicable : [NO_PERMIT]);
  }

  #outcome(p: CompiledPolicy, evidence: Evidence): { allow: Omit<AllowDecision, "reasons" | "policyVersion"> } | Exclude<Rendered, { values: string[] }> {
    const o = p.outcome!;
    const all = (templates: Template[], slot: Slot): { values: string[] } | Exclude<Rendered, { values: string[] }> => {
      const values: string[] = [];
      for (const t of templates) {
        const r = render(t, slot, evidence.claims, p.id);
        if (!("values" in r)) return r;
        values.push(...r.values);
      }
      return { values: [...new Set(values)] };
    };
    let identity = evidence.subject;
    let spiffeId: string | null = null;
    if (o.identity) {
      const r = render(o.identity.template, o.identity.slot, evidence.claims, p.id);
      if (!("values" in r)) return r;
      identity = r.values[0]!;
      if (identity.startsWith("spiffe://")) spiffeId = identity;
    }
    const dns = all(o.dns, DNS_SLOT);
    if (!("values" in dns)) return dns;
    const ip = all(o.ip, IP_SLOT);
    if (!("values" in ip)) return ip;
    const roles = all(o.roles, ROLE_SLOT);
    if (!("values" in roles)) return roles;
    if (roles.values.length > MAX_ROLES) return { refuse: `policy ${p.id} (@roles) gives more than ${MAX_ROLES} roles` };
    return {
      allow: {
        allow: true,
        spiffeId,
        identity,
        nodeId: evidence.nodeId,
        dns: dns.values,
        ip: ip.values.map(canonicalIp),
        roles: roles.values,
        profile: o.profile,
        lifetimeSeconds: o.lifetimeSeconds,
      },
    };
  }
}

/** IPv6 in its canonical (RFC 5952) text, so it compares equal to the CSR's SAN. */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

// ---------------------------------------------------------------------------------------------
// Explaining

function formatSeconds(s: number): string {
  for (const [unit, n] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (s % n === 0) return `${s / n}${unit}`;
  }
  return `${s}s`;
}

const listOrNone = (xs: readonly string[]) => (xs.length > 0 ? xs.join(", ") : "none");

/** A decision in lines an operator reads (signet policy test). */
export function explainDecision(decision: Decision): string[] {
  if (!decision.allow) {
    return [`denied (policy version ${decision.policyVersion})`, ...decision.reasons.map((r) => `  reason: ${r}`)];
  }
  const [by, ...others] = decision.reasons;
  const lines = [`allowed by policy ${by ?? "?"} (policy version ${decision.policyVersion})`];
  if (others.length > 0) lines.push(`  also permitted by: ${others.join(", ")} (the first permit in file order gives the outcome)`);
  lines.push(
    `  identity: ${decision.identity}`,
    `  SPIFFE ID: ${decision.spiffeId ?? "none"}`,
    `  node: ${decision.nodeId ?? "unknown"}`,
    `  DNS names: ${listOrNone(decision.dns)}`,
    `  IP addresses: ${listOrNone(decision.ip)}`,
    `  roles: ${listOrNone(decision.roles)}`,
    `  profile: ${decision.profile ?? "the provisioner's default"}`,
    `  lifetime: ${decision.lifetimeSeconds === null ? "the provisioner's default" : `${formatSeconds(decision.lifetimeSeconds)} (${decision.lifetimeSeconds} s)`}`,
  );
  return lines;
}
