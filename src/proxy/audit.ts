// One structured record per inference, hash-chained like Signet's audit events: every record carries
// the SHA-256 of the one before it in its chain (one chain per proxy process, named in `chain`), so a
// record removed, reordered or edited breaks the chain at that point. Written with pino as JSON
// lines, to a file or to standard output for a SIEM.
import { createHash, randomBytes } from "node:crypto";
import pino, { type Logger } from "pino";
import { canonicalJson } from "../../ca/audit.js";

export interface InferenceRecord {
  caller: { kind: "mtls" | "token" | "none"; id: string | null; serial: string | null; spiffeId: string | null; tokenId: string | null; tenant: string | null };
  route: string | null;
  model: string | null;
  operation: string | null;
  inputSha256: string | null;
  outputSha256: string | null;
  /** Only when the route opts in (logContent). */
  input?: string;
  output?: string;
  decision: { allow: boolean; code: string | null };
  rateLimit: { outcome: "allowed" | "limited" | "not_checked"; scope: string | null };
  upstream: string | null;
  status: number;
  latencyMs: number;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number; estimated: boolean } | null;
  stream: boolean;
  error: string | null;
}

export class InferenceAudit {
  readonly chain: string;
  #seq = 0;
  #prev: string;
  readonly #log: Logger;

  constructor(destination: string | null) {
    this.chain = `${process.pid}-${randomBytes(4).toString("hex")}`;
    this.#prev = createHash("sha256").update(`signet-proxy-chain:${this.chain}`).digest("hex");
    // Records are the only thing this logger writes: no pid/hostname noise, ISO times.
    this.#log = pino({ base: null, timestamp: false, messageKey: "msg" }, destination === null ? pino.destination(1) : pino.destination({ dest: destination, mkdir: true, append: true, sync: false }));
  }

  write(r: InferenceRecord): void {
    const seq = ++this.#seq;
    const body = { type: "inference", time: new Date().toISOString(), chain: this.chain, seq, prev: this.#prev, ...r };
    const hash = createHash("sha256").update(canonicalJson(body)).digest("hex");
    this.#prev = hash;
    this.#log.info({ ...body, hash });
  }

  flush(): Promise<void> {
    return new Promise((resolve) => this.#log.flush(() => resolve()));
  }
}

/** Checks inference records (JSON lines, possibly from several processes): each chain starts at its
 * genesis, counts up by one, and every hash and back-link holds. */
export function verifyInferenceLog(text: string): { records: number; chains: number; ok: boolean; problem: string | null } {
  const last = new Map<string, { seq: number; hash: string }>();
  let records = 0;
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  for (const [i, line] of lines.entries()) {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { records, chains: last.size, ok: false, problem: `line ${i + 1} is not JSON` };
    }
    if (rec.type !== "inference") continue;
    const { hash, level: _level, msg: _msg, ...body } = rec;
    const chain = String(body.chain);
    const prevOf = last.get(chain);
    const expectPrev = prevOf ? prevOf.hash : createHash("sha256").update(`signet-proxy-chain:${chain}`).digest("hex");
    const expectSeq = prevOf ? prevOf.seq + 1 : 1;
    if (body.seq !== expectSeq) return { records, chains: last.size, ok: false, problem: `line ${i + 1}: chain ${chain} jumps from ${expectSeq - 1} to ${String(body.seq)}` };
    if (body.prev !== expectPrev) return { records, chains: last.size, ok: false, problem: `line ${i + 1}: chain ${chain} does not link to the record before it` };
    const computed = createHash("sha256").update(canonicalJson(body)).digest("hex");
    if (computed !== hash) return { records, chains: last.size, ok: false, problem: `line ${i + 1}: the record was altered (its hash does not match)` };
    last.set(chain, { seq: expectSeq, hash: computed });
    records++;
  }
  return { records, chains: last.size, ok: true, problem: null };
}
