// The posture policy of an attestation provisioner: a Cedar file, watched and hot-reloaded
// (src/policy-file.ts).
import type { Logger } from "pino";
import { compilePosturePolicy, type PosturePolicy } from "../../ca/attestation/policy.js";
import { WatchedPolicyFile } from "../policy-file.js";

export interface PolicyFileOptions {
  trustDomain: string;
  log: Logger;
  pollMs?: number;
  debounceMs?: number;
}

/** The posture policy of an attestation provisioner. */
export class PolicyFile extends WatchedPolicyFile<PosturePolicy> {
  constructor(path: string, opts: PolicyFileOptions) {
    super(path, { ...opts, what: "posture policy", compile: (text) => compilePosturePolicy(text, { trustDomain: opts.trustDomain }) });
  }
}
