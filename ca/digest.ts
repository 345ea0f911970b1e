// SHA-256 as lower-case hex: how Signet names secrets it stores hashed and evidence it audits.
// crypto.hash is the one-shot form (Node 20.12+): no Hash object per call, about twice as fast for
// the short inputs hashed on the proxy's request path.
import { hash } from "node:crypto";

export const sha256hex = (data: Buffer | string): string => hash("sha256", data, "hex");
