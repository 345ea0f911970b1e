#!/usr/bin/env node
// lego's `exec` DNS provider hook for tests (EXEC_PATH=test/support/lego-dns-exec.mjs): it puts
// the dns-01 TXT record into the test DNS server (test/support/dns-server.ts) through its control
// endpoint, whose URL is in SIGNET_TEST_DNS_CONTROL.
//
// lego v4 runs, in its default mode:
//   EXEC_PATH present <fqdn> <value>     e.g. present _acme-challenge.example.test. Ms1j...
//   EXEC_PATH cleanup <fqdn> <value>
// and aborts on a non-zero exit; everything printed goes to lego's log. EXEC_MODE=RAW
// (`present -- <domain> <token> <keyAuth>`) is not supported: the hook would have to derive the
// record value itself.
//
// Later lego versions also run `EXEC_PATH timeout` and read {"timeout": s, "interval": s} from
// stdout, falling back to their defaults if the command fails. The answer here is what lego v4
// computes itself from the same environment variables, so both behave the same.
import { request } from "node:http";

const USAGE = "usage: lego-dns-exec.mjs present|cleanup <fqdn> <value> | timeout";

// lego's own defaults (dns01.DefaultPropagationTimeout and DefaultPollingInterval), in seconds.
const DEFAULT_PROPAGATION_TIMEOUT = 60;
const DEFAULT_POLLING_INTERVAL = 2;

/** POSTs a JSON body; resolves with the status and response text. */
function postJson(url, body) {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", headers: { "content-type": "application/json", "content-length": payload.length } },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString("utf8").trim() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function seconds(name, fallback) {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

async function main(argv) {
  const [command, ...args] = argv;
  if (command === "timeout") {
    const timeout = seconds("EXEC_PROPAGATION_TIMEOUT", DEFAULT_PROPAGATION_TIMEOUT);
    const interval = seconds("EXEC_POLLING_INTERVAL", DEFAULT_POLLING_INTERVAL);
    process.stdout.write(`${JSON.stringify({ timeout, interval })}\n`);
    return 0;
  }
  if (command !== "present" && command !== "cleanup") {
    console.error(USAGE);
    return 2;
  }
  if (args[0] === "--") {
    console.error("lego-dns-exec: EXEC_MODE=RAW is not supported; unset it so lego passes <fqdn> <value>");
    return 2;
  }
  if (args.length !== 2) {
    console.error(USAGE);
    return 2;
  }
  const control = process.env.SIGNET_TEST_DNS_CONTROL;
  if (!control) {
    console.error("lego-dns-exec: SIGNET_TEST_DNS_CONTROL is not set");
    return 1;
  }
  const [fqdn, value] = args;
  let reply;
  try {
    reply = await postJson(new URL(`/${command}`, control), { fqdn, value });
  } catch (err) {
    console.error(`lego-dns-exec: ${command} ${fqdn}: cannot reach ${control}: ${err.message}`);
    return 1;
  }
  if (reply.status !== 204) {
    console.error(`lego-dns-exec: ${command} ${fqdn}: control endpoint answered ${reply.status}${reply.text ? `: ${reply.text}` : ""}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
