// SHA-256 as lower-case hex: how Signet names secrets it stores hashed and evidence it audits.
import { createHash } from "node:crypto";

export const sha256hex = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");
