// PostgreSQL stores neither NUL nor unpaired UTF-16 surrogates in text or JSON; a client that sends
// them gets a 400 here instead of a database error deep in a handler.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function findUnstorable(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === "string") return UNSTORABLE.test(value) ? path : null;
  if (depth > 32 || value === null || typeof value !== "object") return null;
  for (const [k, v] of Object.entries(value)) {
    if (UNSTORABLE.test(k)) return `${path}.${k.replace(UNSTORABLE, "?")}`;
    const found = findUnstorable(v, `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return null;
}
