export {
  compileNamePolicy,
  validateNamePolicy,
  type CompiledNamePolicy,
  type NameKind,
  type NamePolicy,
  type NameRules,
  type RequestedNames,
} from "./name-policy.js";
