// The inference proxy under load, beside nginx configured as an mTLS reverse proxy in front of the
// same upstream, driven by the same Node mTLS driver (bench/proxy-driver.ts, its own process; wrk
// cannot present client certificates): requests/s and latency with keep-alive connections (the
// upstream directly, through Signet, through nginx), and TLS handshakes/s with client certificates,
// full and resumed. Each server runs in its own processes, with two workers each (both cores).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { connect as tlsConnect } from "node:tls";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { admin, freePort } from "../test/support/acme.js";
import { makeCsr } from "../test/support/csr.js";
import { startTestServer } from "../test/support/server.js";

export interface ProxyBenchLine {
  target: string;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU the server (all its processes) spent per request, in µs. */
  serverCpuUsPerRequest: number | null;
  /** Throughput runs: 0 for the upstream, then the round of a proxy's run. */
  round?: number;
  /** The share of it spent in the kernel, %. */
  serverKernelPct?: number | null;
  /** The same for the upstream (through a proxy: the upstream's share) and the load driver. */
  upstreamCpuUsPerRequest?: number | null;
  driverCpuUsPerRequest?: number | null;
}

export interface ProxyBenchResult {
  requests: ProxyBenchLine[];
  /** Revoked in Signet → the proxy closes the open connection that presented the certificate. */
  revocation: { p50Ms: number; maxMs: number; rounds: number };
  /** The same at `latencyConnections` (unsaturated): the added latency. */
  latency: ProxyBenchLine[];
  latencyConnections: number;
  handshakes: Array<{ target: string; mode: "full" | "resumed"; perSecond: number; resumedPct: number; errors: number }>;
  connections: number;
  seconds: number;
  nginx: boolean;
}

export function haveNginx(): boolean {
  try {
    execFileSync("nginx", ["-v"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const root = join(import.meta.dirname, "..");

function node(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

function waitFor(p: ChildProcess, re: RegExp, what: string, ms = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${out.slice(-2000)}`)), ms);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    };
    p.stdout!.on("data", on);
    p.stderr!.on("data", on);
    p.once("exit", (code) => reject(new Error(`${what} exited with ${code}: ${out.slice(-2000)}`)));
  });
}

/** CPU seconds used so far by a process and its children (cluster workers, nginx workers); `kernel`:
 * only the time in the kernel (system calls: for a proxy, mostly the loopback network). */
function cpuSeconds(pid: number | undefined, kernel = false): number {
  if (pid === undefined) return 0;
  const read = (p: number) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
      return ((kernel ? 0 : Number(fields[11])) + Number(fields[12])) / 100;
    } catch {
      return 0;
    }
  };
  let total = read(pid);
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim();
      for (const k of kids ? kids.split(/\s+/) : []) total += read(Number(k));
    }
  } catch {
    // not Linux, or gone
  }
  return total;
}

function drive(args: Record<string, unknown>): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = node(["--import", "tsx", "bench/proxy-driver.ts", JSON.stringify(args)]);
    let out = "";
    p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    p.once("exit", (code) => {
      const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
      if (code === 0 && line) resolve(JSON.parse(line) as Record<string, number>);
      else reject(new Error(`driver failed (${code}): ${out.slice(-1000)}`));
    });
  });
}

export async function benchProxy(opts: { seconds: number; connections: number; latencyConnections: number; handshakeSeconds: number; handshakeConnections: number; rounds: number }): Promise<ProxyBenchResult> {
  if (!existsSync(join(root, "dist", "src", "cli", "run.js"))) throw new Error("the proxy benchmark runs the built CLI: npm run build first");
  const dir = mkdtempSync(join(tmpdir(), "signet-proxy-bench-"));
  const signet = await startTestServer();
  const procs: ChildProcess[] = [];
  try {
    // Certificates from this Signet: the servers' (both proxies use the same) and the client's.
    const issue = async (cn: string, body: Record<string, unknown>) => {
      const { sans, ...rest } = body;
      const csr = makeCsr({ cn, ...(sans ? { sans: sans as { dns: string[]; ip: string[] } } : {}) });
      const r = await admin<{ chainPem: string }>(signet, "POST", "/admin/v1/certificates", { csr: csr.pem, ...rest });
      if (r.status !== 201) throw new Error(`issue ${cn}: ${JSON.stringify(r.body)}`);
      writeFileSync(join(dir, `${cn}.crt`), r.body.chainPem);
      writeFileSync(join(dir, `${cn}.key`), csr.keyPem);
    };
    await issue("localhost", { provisioner: "signet-system", profile: "server", sans: { dns: ["localhost"], ip: ["127.0.0.1"] } });
    await issue("bench-client", { profile: "client", roles: ["inference:invoke"], spiffeId: "spiffe://signet.internal/bench/client" });
    const trust = join(dir, "trust.pem");
    const roots = await (await fetch(`${signet.httpUrl}/roots.pem`)).text();
    const inters = await (await fetch(`${signet.httpUrl}/intermediates.pem`)).text();
    writeFileSync(trust, roots + inters);

    // The upstream: the OpenAI-compatible stub, in its own process.
    const up = node(["--import", "tsx", "-e", "const { startDemoUpstream } = await import('./src/proxy/demo-upstream.ts'); const u = await startDemoUpstream({ name: 'bench' }); console.log('UPSTREAM ' + u.port);"]);
    procs.push(up);
    const upPort = Number((await waitFor(up, /UPSTREAM (\d+)/, "the upstream"))[1]);

    // Signet's proxy: the built CLI, two workers.
    const proxyPort = await freePort();
    const config = join(dir, "proxy.json");
    writeFileSync(
      config,
      JSON.stringify({
        host: "127.0.0.1",
        port: proxyPort,
        // BENCH_PROXY_PROFILE=DIR: one worker under --cpu-prof, the profile written to DIR at exit.
        workers: process.env.BENCH_PROXY_PROFILE ? 1 : 2,
        tls: { certFile: join(dir, "localhost.crt"), keyFile: join(dir, "localhost.key") },
        trustBundleFile: trust,
        signet: { url: signet.httpsUrl, httpUrl: signet.httpUrl },
        metrics: { port: 0 },
        upstreams: { bench: { targets: [`http://127.0.0.1:${upPort}`], connections: 128 } },
        routes: [{ name: "bench", pathPrefix: "/v1/", upstream: "bench" }],
        auditFile: join(dir, "inference.log"),
      }),
    );
    const profile = process.env.BENCH_PROXY_PROFILE;
    const sp = node([...(profile ? ["--cpu-prof", "--cpu-prof-dir", profile] : []), "bin/signet.js", "proxy", "--config", config, "--json"], { ...signet.env, SIGNET_LOG_LEVEL: "warn" });
    procs.push(sp);
    await waitFor(sp, /"port":\d+/, "signet proxy");

    // nginx as an mTLS reverse proxy, two workers, upstream keep-alive.
    let nginxPort: number | null = null;
    if (haveNginx()) {
      nginxPort = await freePort();
      const prefix = join(dir, "nginx");
      mkdirSync(join(prefix, "tmp"), { recursive: true });
      writeFileSync(
        join(prefix, "nginx.conf"),
        `user root;
worker_processes 2;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body; proxy_temp_path ${prefix}/tmp/proxy; fastcgi_temp_path ${prefix}/tmp/fcgi; uwsgi_temp_path ${prefix}/tmp/uwsgi; scgi_temp_path ${prefix}/tmp/scgi;
  upstream bench { server 127.0.0.1:${upPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${dir}/localhost.crt;
    ssl_certificate_key ${dir}/localhost.key;
    ssl_client_certificate ${trust};
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    keepalive_requests 100000;
    location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`,
      );
      const ng = spawn("nginx", ["-p", prefix, "-c", join(prefix, "nginx.conf")], { stdio: ["ignore", "pipe", "pipe"] });
      procs.push(ng);
      await new Promise((r) => setTimeout(r, 500));
    }

    const common = { caFile: trust, certFile: join(dir, "bench-client.crt"), keyFile: join(dir, "bench-client.key"), seconds: opts.seconds, warmupSeconds: 2, path: process.env.BENCH_PROXY_PATH ?? "/v1/chat/completions" };
    const targets: Array<[string, string, number | undefined]> = [
      ["upstream directly (http)", `http://127.0.0.1:${upPort}`, up.pid],
      ["Signet proxy (mTLS)", `https://127.0.0.1:${proxyPort}`, sp.pid],
      ...(nginxPort ? ([["nginx (mTLS)", `https://127.0.0.1:${nginxPort}`, procs.at(-1)!.pid]] as Array<[string, string, number | undefined]>) : []),
    ];
    // BENCH_PROXY_ONLY=signet: only the throughput run through Signet's proxy (for profiling).
    const only = process.env.BENCH_PROXY_ONLY === "signet";
    if (only) targets.splice(0, targets.length, targets[1]!);
    const requests: ProxyBenchLine[] = [];
    // Latency unsaturated (a few connections), then throughput with many.
    const latency: ProxyBenchLine[] = [];
    for (const [target, url] of only ? [] : targets) {
      const r = await drive({ ...common, mode: "requests", url, connections: opts.latencyConnections });
      latency.push({ target, perSecond: r.perSecond!, p50Ms: r.p50Ms!, p99Ms: r.p99Ms!, errors: r.errors!, serverCpuUsPerRequest: null });
    }
    // Throughput: the upstream once, then the proxies in rounds, their order alternating (Signet
    // first, then nginx first, ...): this VM's speed drifts within a minute, and a ratio is only
    // fair between runs next to each other. Each round prints its own ratio.
    const order: Array<[string, string, number | undefined, number]> = [[...targets[0]!, 0]];
    for (let round = 1; round <= (only ? 1 : opts.rounds); round++) {
      const pair = targets.slice(1).map((t) => [...t, round] as [string, string, number | undefined, number]);
      order.push(...(round % 2 === 1 ? pair : pair.reverse()));
    }
    for (const [target, url, pid, round] of only ? [[...targets[0]!, 1] as [string, string, number | undefined, number]] : order) {
      const before = cpuSeconds(pid);
      const kernelBefore = cpuSeconds(pid, true);
      const upBefore = cpuSeconds(up.pid);
      const r = await drive({ ...common, mode: "requests", url, connections: opts.connections });
      // Warm-up included: the driver runs warmupSeconds + seconds; requests/s covers only `seconds`.
      const used = cpuSeconds(pid) - before;
      const kernelUsed = cpuSeconds(pid, true) - kernelBefore;
      const upUsed = cpuSeconds(up.pid) - upBefore;
      const requestsDone = r.perSecond! * (opts.seconds + common.warmupSeconds);
      const per = (cpu: number) => (requestsDone > 0 ? Math.round((cpu / requestsDone) * 1e6) : null);
      requests.push({
        target,
        round,
        perSecond: r.perSecond!,
        p50Ms: r.p50Ms!,
        p99Ms: r.p99Ms!,
        errors: r.errors!,
        serverCpuUsPerRequest: per(used),
        serverKernelPct: used > 0 ? Math.round((kernelUsed / used) * 100) : null,
        upstreamCpuUsPerRequest: pid === up.pid ? null : per(upUsed),
        driverCpuUsPerRequest: r.perSecond ? Math.round((r.driverCpuPct! / 100 / r.perSecond) * 1e6) : null,
      });
    }
    const handshakes: ProxyBenchResult["handshakes"] = [];
    for (const [target, url] of only ? [] : targets.slice(1)) {
      for (const mode of ["full", "resumed"] as const) {
        const r = await drive({ ...common, mode: "handshakes", url, connections: opts.handshakeConnections, seconds: opts.handshakeSeconds, resume: mode === "resumed" });
        handshakes.push({ target, mode, perSecond: r.perSecond!, resumedPct: r.resumedPct!, errors: r.errors! });
      }
    }
    // Revocation: a caller with an open keep-alive connection is revoked in Signet; how long until
    // the proxy closes that connection (the live feed, then the proxy's socket registry).
    const revokeMs: number[] = [];
    for (let i = 0; i < (only ? 0 : 10); i++) {
      const csr = makeCsr({ cn: `revokee-${i}` });
      const r = await admin<{ pem: string; certificate: { serial: string } }>(signet, "POST", "/admin/v1/certificates", { csr: csr.pem, profile: "client", roles: ["inference:invoke"] });
      const socket = tlsConnect({ host: "127.0.0.1", port: proxyPort, ca: readFileSync(trust, "utf8"), cert: r.body.pem, key: csr.keyPem, servername: "localhost" });
      await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
      const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now())));
      socket.on("error", () => undefined);
      const t0 = performance.now();
      await admin(signet, "POST", `/admin/v1/certificates/${r.body.certificate.serial}/revoke`, { reason: "keyCompromise" });
      revokeMs.push((await Promise.race([closed, new Promise<number>((res) => setTimeout(() => res(t0 + 10_000), 10_000))])) - t0);
    }
    revokeMs.sort((x, y) => x - y);
    const revocation = { p50Ms: Math.round(revokeMs[Math.floor(revokeMs.length / 2)] ?? 0), maxMs: Math.round(revokeMs.at(-1) ?? 0), rounds: revokeMs.length };
    return { revocation, requests, latency, handshakes, connections: opts.connections, latencyConnections: opts.latencyConnections, seconds: opts.seconds, nginx: nginxPort !== null };
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    await signet.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printProxyBench(r: ProxyBenchResult): void {
  console.log(`latency at ${r.latencyConnections} connections:`);
  for (const l of r.latency) console.log(`${l.target.padEnd(26)} ${String(l.perSecond).padStart(7)} requests/s   p50 ${l.p50Ms} ms   p99 ${l.p99Ms} ms${l.errors ? `   errors ${l.errors}` : ""}`);
  const [ld, ls, ln] = [r.latency[0], r.latency.find((l) => l.target.startsWith("Signet")), r.latency.find((l) => l.target.startsWith("nginx"))];
  if (ld && ls) console.log(`added p99 over the upstream directly: Signet ${(ls.p99Ms - ld.p99Ms).toFixed(2)} ms${ln ? `, nginx ${(ln.p99Ms - ld.p99Ms).toFixed(2)} ms` : ""}; added p50: Signet ${(ls.p50Ms - ld.p50Ms).toFixed(2)} ms${ln ? `, nginx ${(ln.p50Ms - ld.p50Ms).toFixed(2)} ms` : ""}`);
  console.log(`throughput at ${r.connections} connections:`);
  for (const l of r.requests)
    console.log(`${(l.round ? `${l.target} #${l.round}` : l.target).padEnd(26)} ${String(l.perSecond).padStart(7)} requests/s   p50 ${l.p50Ms} ms   p99 ${l.p99Ms} ms   server CPU ${l.serverCpuUsPerRequest ?? "?"} µs/request (${l.serverKernelPct ?? "?"}% kernel)${l.upstreamCpuUsPerRequest != null ? ` (upstream ${l.upstreamCpuUsPerRequest})` : ""}   driver ${l.driverCpuUsPerRequest ?? "?"} µs${l.errors ? `   errors ${l.errors}` : ""}`);
  const ratios: string[] = [];
  for (let round = 1; ; round++) {
    const signet = r.requests.find((l) => l.round === round && l.target.startsWith("Signet"));
    const nginx = r.requests.find((l) => l.round === round && l.target.startsWith("nginx"));
    if (!signet || !nginx) break;
    ratios.push(`${Math.round((signet.perSecond / nginx.perSecond) * 100)}%`);
  }
  if (ratios.length) console.log(`Signet / nginx, round by round: ${ratios.join(", ")} of nginx's requests/s`);
  console.log(`revoked in Signet → open connection closed by the proxy: p50 ${r.revocation.p50Ms} ms, max ${r.revocation.maxMs} ms (${r.revocation.rounds} revocations, admin API call included)`);
  for (const h of r.handshakes) console.log(`${h.target.padEnd(26)} ${h.mode.padEnd(8)} ${String(h.perSecond).padStart(6)} mTLS handshakes/s${h.mode === "resumed" ? `   (${h.resumedPct}% resumed)` : ""}${h.errors ? `   errors ${h.errors}` : ""}`);
}

export function proxyBenchFromEnv() {
  return {
    seconds: Number(process.env.BENCH_PROXY_SECONDS ?? 10),
    connections: Number(process.env.BENCH_PROXY_CONNECTIONS ?? 64),
    latencyConnections: Number(process.env.BENCH_PROXY_LATENCY_CONNECTIONS ?? 4),
    handshakeSeconds: Number(process.env.BENCH_PROXY_HANDSHAKE_SECONDS ?? 5),
    handshakeConnections: Number(process.env.BENCH_PROXY_HANDSHAKE_CONNECTIONS ?? 16),
    rounds: Number(process.env.BENCH_PROXY_ROUNDS ?? 4),
  };
}
