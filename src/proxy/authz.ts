// The proxy's authorization policy: a Cedar file, hot-reloaded and validated at load, deciding at
// three levels in one evaluation:
//   endpoint: which callers (identity, roles, auth method) may call which route (resource) and model;
//   tenant:   context.tenant (the caller's) against context.routeTenant (the route's);
//   action:   which operation (Action::"chat.completions", "completions", "embeddings",
//             "models.list"), caps such as context.maxTokens, and whether tools may be used.
// Any forbid that holds denies with its @id as the reason code and @reason as the message; without a
// permit that holds, the code is no_permit. Decisions are cached (a Cedar call costs ~60 µs here).
import { createHash } from "node:crypto";
import { SignetError } from "../../ca/errors.js";
import { cedar, type CedarWasm } from "../../ca/policy/cedar.js";
import type { AuthMethod, Operation } from "./config.js";

export interface AuthzRequest {
  callerId: string;
  auth: AuthMethod;
  roles: readonly string[];
  tenant: string | null;
  spiffeId: string | null;
  route: string;
  routeTenant: string | null;
  operation: Operation;
  model: string | null;
  maxTokens: number | null;
  tools: boolean;
}

export type AuthzDecision = { allow: true } | { allow: false; code: string; reason: string };

interface Entry {
  id: string;
  effect: "permit" | "forbid";
  reason: string | null;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export class ProxyPolicy {
  readonly #cache = new Map<string, AuthzDecision>();

  private constructor(
    readonly version: string,
    private readonly setId: string,
    private readonly byId: Map<string, Entry>,
    private readonly order: string[],
    private readonly cacheSize: number,
  ) {}

  static compile(text: string, cacheSize = 10_000): ProxyPolicy {
    const c = cedar();
    const fail = (msg: string, errors?: CedarWasm.DetailedError[]) =>
      new SignetError("bad_policy", `the proxy policy ${msg}${errors?.length ? `: ${errors.map((e) => e.message).join("; ")}` : ""}`);
    const parts = c.policySetTextToParts(text);
    if (parts.type === "failure") throw fail("does not parse", parts.errors);
    if (parts.policy_templates.length > 0) throw fail("has templates; only static policies are supported");
    if (parts.policies.length === 0) throw fail("has no policies (to refuse everything, say so: forbid (principal, action, resource);)");
    // Cedar returns the policies sorted by their generated ids as strings (policy10 before policy2).
    const ids = parts.policies.map((_, i) => `policy${i}`).sort();
    const inOrder: string[] = new Array<string>(parts.policies.length);
    ids.forEach((id, k) => (inOrder[Number(id.slice("policy".length))] = parts.policies[k]!));
    const byId = new Map<string, Entry>();
    const staticPolicies: Record<string, string> = {};
    const order: string[] = [];
    inOrder.forEach((src, i) => {
      const json = c.policyToJson(src);
      if (json.type === "failure") throw fail(`policy ${i + 1} cannot be read`, json.errors);
      const ann = (json.json.annotations ?? {}) as Record<string, string | null>;
      const id = ann.id ?? `policy${i}`;
      if (!ID.test(id)) throw fail(`policy ${i + 1}: @id must be 1-128 of A-Z a-z 0-9 . _ : -`);
      if (byId.has(id)) throw fail(`uses the id ${id} twice`);
      byId.set(id, { id, effect: json.json.effect, reason: ann.reason ?? null });
      staticPolicies[id] = src;
      order.push(id);
    });
    const digest = createHash("sha256").update(text).digest("hex");
    const setId = `signet-proxy-${digest}`;
    const prepared = c.preparsePolicySet(setId, { staticPolicies });
    if (prepared.type === "failure") throw fail("cannot be prepared", prepared.errors);
    return new ProxyPolicy(digest.slice(0, 16), setId, byId, order, cacheSize);
  }

  decide(r: AuthzRequest): AuthzDecision {
    const key = JSON.stringify([r.callerId, r.auth, r.roles, r.tenant, r.spiffeId, r.route, r.routeTenant, r.operation, r.model, r.maxTokens, r.tools]);
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const d = this.#evaluate(r);
    if (this.cacheSize > 0) {
      if (this.#cache.size >= this.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(key, d);
    }
    return d;
  }

  #evaluate(r: AuthzRequest): AuthzDecision {
    const answer = cedar().statefulIsAuthorized({
      principal: { type: "Caller", id: r.callerId },
      action: { type: "Action", id: r.operation },
      resource: { type: "Route", id: r.route },
      context: {
        auth: r.auth,
        roles: [...r.roles],
        tenant: r.tenant ?? "",
        routeTenant: r.routeTenant ?? "",
        spiffeId: r.spiffeId ?? "",
        model: r.model ?? "",
        maxTokens: r.maxTokens ?? 0,
        tools: r.tools,
      },
      entities: [],
      preparsedPolicySetId: this.setId,
    });
    if (answer.type === "failure") return { allow: false, code: "policy_error", reason: "the proxy policy could not evaluate this request" };
    const { decision, diagnostics } = answer.response;
    if (decision === "allow") return { allow: true };
    const rank = (id: string) => this.order.indexOf(id);
    const forbids = diagnostics.reason
      .map((id) => this.byId.get(id))
      .filter((e): e is Entry => e?.effect === "forbid")
      .sort((a, b) => rank(a.id) - rank(b.id));
    const first = forbids[0];
    if (first) return { allow: false, code: first.id, reason: first.reason ?? `forbidden by policy ${first.id}` };
    if (diagnostics.errors.length > 0) return { allow: false, code: "policy_error", reason: "a policy could not be evaluated for this request (a missing attribute?)" };
    return { allow: false, code: "no_permit", reason: "no policy permits this caller to do this on this route" };
  }
}

/** The policy `npm start` writes once to $SIGNET_HOME/policies/proxy.cedar. */
export const DEFAULT_PROXY_POLICY = `// Authorization policy of Signet's inference proxy (Cedar; reloaded when this file changes).
// principal Caller::"<SPIFFE ID, CN or token:ID>", action Action::"chat.completions" | "completions"
// | "embeddings" | "models.list", resource Route::"<route name>"; context: auth ("mtls" | "token"),
// roles (set of strings), tenant (the caller's, "" if none), routeTenant ("" for shared routes),
// spiffeId, model, maxTokens (0 if not set), tools (bool). A forbid's @id is the reason code.

// Endpoint level: certificates with the inference:invoke role, and partner tokens (a token's routes
// are checked before this policy runs).
@id("certificate-callers")
permit (principal, action, resource) when { context.auth == "mtls" && context.roles.contains("inference:invoke") };

@id("token-callers")
permit (principal, action, resource) when { context.auth == "token" };

// Tenant level: a route that belongs to a tenant serves only that tenant.
@id("tenant-mismatch")
@reason("the route belongs to another tenant")
forbid (principal, action, resource) when { context.routeTenant != "" && context.tenant != context.routeTenant };

// Action level: caps, and no tool calls for partners.
@id("max-tokens-cap")
@reason("max_tokens above 4096 is not allowed")
forbid (principal, action, resource) when { context.maxTokens > 4096 };

@id("tools-for-partners")
@reason("tool calls are not allowed with access tokens")
forbid (principal, action, resource) when { context.auth == "token" && context.tools };
`;
