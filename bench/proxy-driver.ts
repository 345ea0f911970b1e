// The mTLS load driver of the proxy benchmark, run as its own process so that its CPU is its own:
// `node --import tsx bench/proxy-driver.ts '<json>'` prints one JSON result line.
//   mode "requests":   keep-alive connections (undici), POST chat completions for `seconds`;
//                      requests/s, p50 and p99 latency.
//   mode "handshakes": a new TLS connection per handshake (client certificate presented), `resume`
//                      offering the session from an earlier handshake; handshakes/s.
import { readFileSync } from "node:fs";
import { connect, type TLSSocket } from "node:tls";
import { Pool } from "undici";

interface Args {
  mode: "requests" | "handshakes";
  url: string;
  path: string;
  caFile: string;
  certFile: string | null;
  keyFile: string | null;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  resume?: boolean;
}

const a = JSON.parse(process.argv[2]!) as Args;
const ca = readFileSync(a.caFile, "utf8");
const cert = a.certFile ? readFileSync(a.certFile, "utf8") : undefined;
const key = a.keyFile ? readFileSync(a.keyFile, "utf8") : undefined;
const u = new URL(a.url);
const body = JSON.stringify({ model: "echo-1", messages: [{ role: "user", content: "benchmark prompt of a few words" }], max_tokens: 16 });

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function requests(): Promise<void> {
  const pool = new Pool(a.url, { connections: a.connections, pipelining: 1, connect: u.protocol === "https:" ? { ca, cert, key, servername: "localhost" } : {} });
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const t = performance.now();
      try {
        const r = await pool.request({ path: a.path, method: "POST", headers: { "content-type": "application/json" }, body });
        await r.body.text();
        if (r.statusCode !== 200) errors++;
      } catch {
        errors++;
      }
      if (measuring) latencies.push(performance.now() - t);
    }
  };
  const workers = Array.from({ length: a.connections }, worker);
  await new Promise((r) => setTimeout(r, a.warmupSeconds * 1000));
  measuring = true;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, a.seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await Promise.all(workers);
  await pool.close();
  const sorted = latencies.sort((x, y) => x - y);
  console.log(JSON.stringify({ perSecond: Math.round(sorted.length / elapsed), p50Ms: +pct(sorted, 50).toFixed(2), p99Ms: +pct(sorted, 99).toFixed(2), errors, driverCpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100) }));
}

async function handshakes(): Promise<void> {
  let session: Buffer | undefined;
  let count = 0;
  let resumed = 0;
  let errors = 0;
  let measuring = false;
  let stop = false;
  const once = () =>
    new Promise<void>((resolve) => {
      const s: TLSSocket = connect({ host: u.hostname, port: Number(u.port), ca, cert, key, servername: "localhost", minVersion: "TLSv1.2", ...(a.resume && session ? { session } : {}) });
      s.once("session", (sess: Buffer) => {
        if (a.resume) session ??= sess;
      });
      s.once("secureConnect", () => {
        if (measuring) {
          count++;
          if (s.isSessionReused()) resumed++;
        }
        // Wait a moment for the TLS 1.3 ticket (it follows the handshake), then close.
        if (a.resume && !session) setTimeout(() => s.end(), 20);
        else s.end();
      });
      s.once("error", () => {
        errors++;
        resolve();
      });
      s.once("close", () => resolve());
    });
  const worker = async () => {
    while (!stop) await once();
  };
  const workers = Array.from({ length: a.connections }, worker);
  await new Promise((r) => setTimeout(r, a.warmupSeconds * 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, a.seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(workers);
  console.log(JSON.stringify({ perSecond: Math.round(count / elapsed), resumedPct: count ? Math.round((resumed / count) * 100) : 0, errors }));
}

await (a.mode === "requests" ? requests() : handshakes());
