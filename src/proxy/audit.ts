// One structured record per inference, hash-chained like Signet's audit events: every record carries
// the SHA-256 of the one before it in its chain (one chain per proxy process, named in `chain`), so a
// record removed, reordered or edited breaks the chain at that point. JSON lines, to a file or to
// standard output for a SIEM, through pino's asynchronous writer (SonicBoom).
//
// The hash covers the exact bytes written: a line is `{...record...,"hash":"<sha256 of the line up to
// that point, closed with }>"}`. Hashing the serialised line (not a canonical re-serialisation) costs
// one JSON.stringify per inference, and a verifier needs no JSON canonicalisation to check it.
import { createHash, randomBytes } from "node:crypto";
import pino from "pino";

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

const genesis = (chain: string) => createHash("sha256").update(`signet-proxy-chain:${chain}`).digest("hex");

export class InferenceAudit {
  readonly chain: string;
  #seq = 0;
  #prev: string;
  readonly #out: ReturnType<typeof pino.destination>;

  constructor(destination: string | null) {
    this.chain = `${process.pid}-${randomBytes(4).toString("hex")}`;
    this.#prev = genesis(this.chain);
    // Lines are written in batches (a write per 8 KiB, or every 200 ms): one write per inference
    // cost a third of the proxy's CPU. A crash can lose at most the last 200 ms of records.
    const opts = { minLength: 8 * 1024, sync: false } as const;
    this.#out = destination === null ? pino.destination({ dest: 1, ...opts }) : pino.destination({ dest: destination, mkdir: true, append: true, ...opts });
    this.#timer = setInterval(() => {
      if ((this.#out as unknown as { fd: number }).fd >= 0) this.#out.flush();
    }, 200);
    this.#timer.unref();
  }

  readonly #timer: NodeJS.Timeout;

  close(): Promise<void> {
    clearInterval(this.#timer);
    return this.flush();
  }

  write(r: InferenceRecord): void {
    const seq = ++this.#seq;
    const head = JSON.stringify({ type: "inference", time: new Date().toISOString(), chain: this.chain, seq, prev: this.#prev, ...r });
    const hash = createHash("sha256").update(head).digest("hex");
    this.#prev = hash;
    this.#out.write(`${head.slice(0, -1)},"hash":"${hash}"}\n`);
  }

  /** Writes out what is buffered (once the file is open). */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      const go = () => {
        try {
          this.#out.flushSync();
        } catch {
          // Nothing buffered, or the stream is closing.
        }
        resolve();
      };
      if ((this.#out as unknown as { fd: number }).fd >= 0) go();
      else this.#out.once("ready", go);
    });
  }
}

const HASH_TAIL = /,"hash":"([0-9a-f]{64})"\}$/;

/** Checks inference records (JSON lines, possibly from several processes): each chain starts at its
 * genesis, counts up by one, and every hash and back-link holds. */
export function verifyInferenceLog(text: string): { records: number; chains: number; ok: boolean; problem: string | null } {
  const last = new Map<string, { seq: number; hash: string }>();
  let records = 0;
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  for (const [i, line] of lines.entries()) {
    const m = HASH_TAIL.exec(line);
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { records, chains: last.size, ok: false, problem: `line ${i + 1} is not JSON` };
    }
    if (rec.type !== "inference") continue;
    if (!m) return { records, chains: last.size, ok: false, problem: `line ${i + 1} has no hash at its end` };
    const chain = String(rec.chain);
    const prevOf = last.get(chain);
    const expectPrev = prevOf ? prevOf.hash : genesis(chain);
    const expectSeq = prevOf ? prevOf.seq + 1 : 1;
    if (rec.seq !== expectSeq) return { records, chains: last.size, ok: false, problem: `line ${i + 1}: chain ${chain} jumps from ${expectSeq - 1} to ${String(rec.seq)}` };
    if (rec.prev !== expectPrev) return { records, chains: last.size, ok: false, problem: `line ${i + 1}: chain ${chain} does not link to the record before it` };
    const computed = createHash("sha256").update(`${line.slice(0, m.index)}}`).digest("hex");
    if (computed !== m[1]) return { records, chains: last.size, ok: false, problem: `line ${i + 1}: the record was altered (its hash does not match)` };
    last.set(chain, { seq: expectSeq, hash: computed });
    records++;
  }
  return { records, chains: last.size, ok: true, problem: null };
}
