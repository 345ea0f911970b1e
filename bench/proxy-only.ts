// `node --import tsx bench/proxy-only.ts`: only the inference proxy benchmark (npm run bench runs it
// with everything else). BENCH_PROXY_SECONDS, BENCH_PROXY_CONNECTIONS change the load;
// BENCH_PROXY_ROUNDS (4) how many back-to-back Signet/nginx throughput pairs run.
import { benchProxy, printProxyBench, proxyBenchFromEnv } from "./proxy.js";

const o = proxyBenchFromEnv();
console.log(`inference proxy: ${o.connections} keep-alive mTLS connections, ${o.seconds} s per run; handshakes: ${o.handshakeConnections} at once, ${o.handshakeSeconds} s`);
printProxyBench(await benchProxy(o));
