// The Cedar policy engine (@cedar-policy/cedar-wasm), shared by the posture policy and the proxy's
// authorization policy. The package's default entry imports its .wasm file as an ES module, which
// Node 20 cannot load without a flag. The "nodejs" build is CommonJS and compiles the 4 MB module
// synchronously when it is first required (~30 ms), so it is loaded on first use, not at import.
import { createRequire } from "node:module";
import type * as CedarWasm from "@cedar-policy/cedar-wasm/nodejs";

export type { CedarWasm };

let cedarModule: typeof CedarWasm | undefined;

export function cedar(): typeof CedarWasm {
  cedarModule ??= createRequire(import.meta.url)("@cedar-policy/cedar-wasm/nodejs") as typeof CedarWasm;
  return cedarModule;
}
