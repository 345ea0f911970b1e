// The test DNS server (test/support/dns-server.ts), judged by node's own resolver (what the ACME
// validator uses), by raw packets over UDP and TCP for what a resolver hides (flags, truncation,
// malformed input), by the lego exec hook, and by `dig` when it is installed.
import { execFile, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { promises as dns } from "node:dns";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDns, type TestDns } from "./support/dns-server.js";

const execFileAsync = promisify(execFile);
const LEGO_HOOK = fileURLToPath(new URL("./support/lego-dns-exec.mjs", import.meta.url));
const HAVE_DIG = spawnSync("which", ["dig"]).status === 0;

const T_A = 1;
const T_TXT = 16;
const T_OPT = 41;
const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;

function resolverFor(server: TestDns): dns.Resolver {
  const resolver = new dns.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([server.address]);
  return resolver;
}

function encodeName(name: string): Buffer {
  const labels = name.split(".").filter(Boolean);
  return Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, "ascii")]), Buffer.from([0])]);
}

/** A standard query with RD set, optionally with an EDNS OPT record advertising `ednsSize`. */
function buildQuery(id: number, name: string, type: number, opts: { ednsSize?: number } = {}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(FLAG_RD, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.ednsSize === undefined ? 0 : 1, 10);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(type, 0);
  question.writeUInt16BE(1, 2);
  const opt = Buffer.alloc(opts.ednsSize === undefined ? 0 : 11);
  if (opts.ednsSize !== undefined) {
    opt.writeUInt16BE(T_OPT, 1);
    opt.writeUInt16BE(opts.ednsSize, 3);
  }
  return Buffer.concat([header, encodeName(name), question, opt]);
}

interface Header {
  id: number;
  flags: number;
  rcode: number;
  qdcount: number;
  ancount: number;
  arcount: number;
}

function parseHeader(msg: Buffer): Header {
  const flags = msg.readUInt16BE(2);
  return { id: msg.readUInt16BE(0), flags, rcode: flags & 0xf, qdcount: msg.readUInt16BE(4), ancount: msg.readUInt16BE(6), arcount: msg.readUInt16BE(10) };
}

/** Sends one datagram; resolves with the reply, or undefined if none came within `waitMs`. */
async function udpExchange(server: TestDns, packet: Buffer, waitMs = 1500): Promise<Buffer | undefined> {
  const socket = createSocket("udp4");
  try {
    return await new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      socket.once("message", (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.once("error", reject);
      socket.send(packet, server.port, "127.0.0.1");
    });
  } finally {
    socket.close();
  }
}

/** Sends length-prefixed messages on one TCP connection and collects as many replies. */
async function tcpExchange(server: TestDns, packets: Buffer[]): Promise<Buffer[]> {
  return await new Promise<Buffer[]>((resolve, reject) => {
    const socket = connect(server.port, "127.0.0.1");
    const replies: Buffer[] = [];
    let pending: Buffer = Buffer.alloc(0);
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        replies.push(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
      }
      if (replies.length === packets.length) {
        socket.end();
        resolve(replies);
      }
    });
    // Every message framed, all written in one go: the server must split them itself.
    socket.write(Buffer.concat(packets.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 0xff]), p])));
  });
}

async function control(server: TestDns, path: string, body: unknown): Promise<number> {
  const res = await fetch(`${server.controlUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

describe("test DNS server with default answers", () => {
  let server: TestDns;
  let resolver: dns.Resolver;

  beforeAll(async () => {
    server = await startTestDns();
    resolver = resolverFor(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("listens on loopback and names its addresses", () => {
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    expect(server.controlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("answers the default address for any name", async () => {
    expect(await resolver.resolve4("anything.example.test")).toEqual(["127.0.0.1"]);
  });

  it("answers explicit A records, with case-insensitive names and an optional trailing dot", async () => {
    server.setA("Host.Example.TEST.", ["10.1.2.3", "10.1.2.4"]);
    expect((await resolver.resolve4("host.example.test")).sort()).toEqual(["10.1.2.3", "10.1.2.4"]);
    expect((await resolver.resolve4("HOST.example.test")).sort()).toEqual(["10.1.2.3", "10.1.2.4"]);
    server.setA("host.example.test", []);
    expect(await resolver.resolve4("host.example.test")).toEqual(["127.0.0.1"]);
  });

  it("rejects addresses of the wrong family", () => {
    expect(() => server.setA("bad.example.test", ["::1"])).toThrow(/IPv4/);
    expect(() => server.setAAAA("bad.example.test", ["10.0.0.1"])).toThrow(/IPv6/);
  });

  it("has no AAAA by default: NODATA, not NXDOMAIN", async () => {
    await expect(resolver.resolve6("anything.example.test")).rejects.toMatchObject({ code: "ENODATA" });
  });

  it("answers explicit AAAA records", async () => {
    const ips = ["::1", "2001:db8::42", "2001:db8:1:2:3:4:5:6", "fe80::1:2", "1::", "::ffff:192.0.2.1"];
    server.setAAAA("v6.example.test", ips);
    expect((await resolver.resolve6("v6.example.test")).sort()).toEqual([...ips].sort());
  });

  it("answers CAA and other types with NODATA", async () => {
    await expect(resolver.resolveCaa("example.test")).rejects.toMatchObject({ code: "ENODATA" });
    await expect(resolver.resolveMx("example.test")).rejects.toMatchObject({ code: "ENODATA" });
    await expect(resolver.resolveCname("example.test")).rejects.toMatchObject({ code: "ENODATA" });
  });

  it("answers TXT records, splitting values longer than 255 bytes into character-strings", async () => {
    const name = "_acme-challenge.txt.example.test";
    await expect(resolver.resolveTxt(name)).rejects.toMatchObject({ code: "ENODATA" });
    const long = "x".repeat(150) + "y".repeat(150);
    server.addTxt(name, "short");
    server.addTxt(`${name.toUpperCase()}.`, long);
    server.addTxt(name, "short"); // an RRset has no duplicates

    const answers = await resolver.resolveTxt(name);
    expect(answers).toHaveLength(2);
    const split = answers.find((chunks) => chunks.length > 1);
    expect(split?.map((c) => c.length)).toEqual([255, 45]);
    expect(answers.map((chunks) => chunks.join("")).sort()).toEqual(["short", long]);
  });

  it("removes one TXT value, then all of them", async () => {
    const name = "_acme-challenge.remove.example.test";
    server.setTxt(name, ["one", "two", "three"]);
    server.removeTxt(name, "two");
    expect((await resolver.resolveTxt(name)).flat().sort()).toEqual(["one", "three"]);
    server.removeTxt(name);
    await expect(resolver.resolveTxt(name)).rejects.toMatchObject({ code: "ENODATA" });
  });

  it("records the queries it answered, lowercased and without the trailing dot", async () => {
    await resolver.resolve4("Recorded.Example.Test.");
    await expect(resolver.resolveTxt("_acme-challenge.recorded.example.test")).rejects.toThrow();
    expect(server.queries).toContainEqual({ name: "recorded.example.test", type: "A" });
    expect(server.queries).toContainEqual({ name: "_acme-challenge.recorded.example.test", type: "TXT" });
  });

  it("sets and removes TXT records through the control endpoint", async () => {
    const fqdn = "_acme-challenge.control.example.test.";
    expect(await control(server, "/present", { fqdn, value: "token-1" })).toBe(204);
    expect(await control(server, "/present", { fqdn, value: "token-2" })).toBe(204);
    expect((await resolver.resolveTxt(fqdn)).flat().sort()).toEqual(["token-1", "token-2"]);
    expect(await control(server, "/cleanup", { fqdn, value: "token-1" })).toBe(204);
    expect(await resolver.resolveTxt(fqdn)).toEqual([["token-2"]]);
    expect(await control(server, "/set-txt", { name: fqdn, values: ["a", "b"] })).toBe(204);
    expect((await resolver.resolveTxt(fqdn)).flat().sort()).toEqual(["a", "b"]);
    expect(await control(server, "/set-txt", { name: fqdn, values: [] })).toBe(204);
    await expect(resolver.resolveTxt(fqdn)).rejects.toMatchObject({ code: "ENODATA" });
  });

  it("refuses bad control requests", async () => {
    expect(await control(server, "/present", "{not json")).toBe(400);
    expect(await control(server, "/present", { fqdn: "x.example.test" })).toBe(400);
    expect(await control(server, "/set-txt", { name: "x.example.test", values: [1] })).toBe(400);
    expect(await control(server, "/nope", {})).toBe(404);
    expect((await fetch(`${server.controlUrl}/present`)).status).toBe(405);
  });

  it("drives the control endpoint from the lego exec hook", async () => {
    const env = { ...process.env, SIGNET_TEST_DNS_CONTROL: server.controlUrl };
    const fqdn = "_acme-challenge.lego.example.test.";
    await execFileAsync(LEGO_HOOK, ["present", fqdn, "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"], { env });
    expect(await resolver.resolveTxt(fqdn)).toEqual([["LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"]]);
    await execFileAsync(LEGO_HOOK, ["cleanup", fqdn, "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"], { env });
    await expect(resolver.resolveTxt(fqdn)).rejects.toMatchObject({ code: "ENODATA" });

    const timeout = await execFileAsync(LEGO_HOOK, ["timeout"], { env: { ...env, EXEC_POLLING_INTERVAL: "1" } });
    expect(JSON.parse(timeout.stdout)).toEqual({ timeout: 60, interval: 1 });

    await expect(execFileAsync(LEGO_HOOK, ["present", "--", "lego.example.test", "token", "keyauth"], { env })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/EXEC_MODE=RAW/),
    });
    await expect(execFileAsync(LEGO_HOOK, ["frobnicate"], { env })).rejects.toMatchObject({ code: 2 });
    const noControl = { ...process.env, SIGNET_TEST_DNS_CONTROL: "" };
    await expect(execFileAsync(LEGO_HOOK, ["present", fqdn, "v"], { env: noControl })).rejects.toMatchObject({ code: 1 });
  });

  it("answers over TCP, several length-prefixed queries on one connection", async () => {
    server.setA("tcp.example.test", ["192.0.2.7"]);
    const [first, second] = await tcpExchange(server, [buildQuery(0x1234, "tcp.example.test", T_A), buildQuery(0x4321, "anything.example.test", T_A)]);
    const header = parseHeader(first!);
    expect(header).toMatchObject({ id: 0x1234, rcode: 0, qdcount: 1, ancount: 1 });
    expect(header.flags & FLAG_QR).toBeTruthy();
    expect(header.flags & FLAG_AA).toBeTruthy();
    expect(header.flags & FLAG_RD).toBeTruthy();
    // The answer's owner is a pointer to the question, and the address ends the message.
    expect(first!.subarray(first!.length - 16, first!.length - 14)).toEqual(Buffer.from([0xc0, 0x0c]));
    expect([...first!.subarray(-4)]).toEqual([192, 0, 2, 7]);
    expect(parseHeader(second!)).toMatchObject({ id: 0x4321, ancount: 1 });
  });

  it("sets TC on a UDP answer over 512 bytes without EDNS, and answers in full over TCP or with EDNS", async () => {
    const name = "_acme-challenge.big.example.test";
    server.setTxt(name, ["a", "b", "c", "d"].map((c) => c.repeat(200)));

    const udp = parseHeader((await udpExchange(server, buildQuery(7, name, T_TXT)))!);
    expect(udp.flags & FLAG_TC).toBeTruthy();
    expect(udp.ancount).toBe(0);

    const edns = parseHeader((await udpExchange(server, buildQuery(8, name, T_TXT, { ednsSize: 4096 })))!);
    expect(edns.flags & FLAG_TC).toBe(0);
    expect(edns).toMatchObject({ ancount: 4, arcount: 1 });

    const [tcp] = await tcpExchange(server, [buildQuery(9, name, T_TXT)]);
    expect(parseHeader(tcp!)).toMatchObject({ ancount: 4, arcount: 0 });

    expect((await resolver.resolveTxt(name)).map((c) => c.join("")).sort()).toEqual(["a", "b", "c", "d"].map((c) => c.repeat(200)));
  });

  it("follows a compression pointer while skipping an additional record", async () => {
    // A TXT record in the additional section whose owner is a pointer to the question.
    const query = buildQuery(21, "pointer.example.test", T_A);
    query.writeUInt16BE(1, 10);
    const record = Buffer.from([0xc0, 0x0c, 0, T_TXT, 0, 1, 0, 0, 0, 0, 0, 2, 1, 0x41]);
    const reply = parseHeader((await udpExchange(server, Buffer.concat([query, record])))!);
    expect(reply).toMatchObject({ id: 21, rcode: 0, ancount: 1 });
  });

  it("answers malformed queries with FORMERR, drops garbage, and keeps serving", async () => {
    // Too short to hold a header: dropped.
    expect(await udpExchange(server, Buffer.from([1, 2, 3]), 300)).toBeUndefined();
    // A response (QR set): never answered.
    const response = buildQuery(30, "x.example.test", T_A);
    response.writeUInt16BE(FLAG_QR, 2);
    expect(await udpExchange(server, response, 300)).toBeUndefined();

    // A question that runs past the end of the packet.
    const truncated = buildQuery(31, "cut.example.test", T_A).subarray(0, 20);
    expect(parseHeader((await udpExchange(server, truncated))!)).toMatchObject({ id: 31, rcode: 1 });
    // A compression pointer that points at itself.
    const loop = Buffer.concat([buildQuery(32, "x", T_A).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(parseHeader((await udpExchange(server, loop))!)).toMatchObject({ id: 32, rcode: 1 });
    // Two questions.
    const two = buildQuery(33, "x.example.test", T_A);
    two.writeUInt16BE(2, 4);
    expect(parseHeader((await udpExchange(server, two))!)).toMatchObject({ id: 33, rcode: 1 });
    // A non-QUERY opcode (NOTIFY).
    const notify = buildQuery(34, "x.example.test", T_A);
    notify.writeUInt16BE(4 << 11, 2);
    expect(parseHeader((await udpExchange(server, notify))!)).toMatchObject({ id: 34, rcode: 4 });
    // Text that is not DNS: its "header" reads as opcode 13, so NOTIMP. An empty datagram: dropped.
    const text = Buffer.from("this is not DNS at all, just some bytes");
    expect(parseHeader((await udpExchange(server, text))!)).toMatchObject({ rcode: 4 });
    expect(await udpExchange(server, Buffer.alloc(0), 300)).toBeUndefined();

    expect(await resolver.resolve4("still-alive.example.test")).toEqual(["127.0.0.1"]);
    const [tcp] = await tcpExchange(server, [buildQuery(35, "still-alive.example.test", T_A)]);
    expect(parseHeader(tcp!)).toMatchObject({ id: 35, ancount: 1 });
  });

  it.skipIf(!HAVE_DIG)("answers dig over UDP and TCP", async () => {
    server.setTxt("_acme-challenge.dig.example.test", ["from-dig"]);
    const dig = async (...args: string[]): Promise<string> =>
      (await execFileAsync("dig", [`@127.0.0.1`, "-p", String(server.port), "+time=2", "+tries=1", ...args])).stdout;

    expect((await dig("+short", "dig.example.test", "A")).trim()).toBe("127.0.0.1");
    expect((await dig("+short", "+tcp", "_acme-challenge.dig.example.test", "TXT")).trim()).toBe('"from-dig"');
    const full = await dig("dig.example.test", "AAAA");
    expect(full).toMatch(/status: NOERROR/);
    expect(full).toMatch(/flags: qr aa rd;/);
    expect(full).toMatch(/ANSWER: 0,/);
  });
});

describe("test DNS server without a default address", () => {
  let server: TestDns;
  let resolver: dns.Resolver;

  beforeAll(async () => {
    server = await startTestDns({ defaultA: null });
    resolver = resolverFor(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("answers NXDOMAIN for unknown names", async () => {
    await expect(resolver.resolve4("unknown.example.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(resolver.resolveTxt("unknown.example.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  it("answers NODATA for names that exist, and for the names above them", async () => {
    server.addTxt("_acme-challenge.only-txt.example.test", "v");
    await expect(resolver.resolve4("_acme-challenge.only-txt.example.test")).rejects.toMatchObject({ code: "ENODATA" });
    await expect(resolver.resolve4("only-txt.example.test")).rejects.toMatchObject({ code: "ENODATA" });
    server.setAAAA("v6only.example.test", ["2001:db8::1"]);
    await expect(resolver.resolve4("v6only.example.test")).rejects.toMatchObject({ code: "ENODATA" });
    expect(await resolver.resolve6("v6only.example.test")).toEqual(["2001:db8::1"]);
  });

  it("answers a default AAAA when given one", async () => {
    const v6 = await startTestDns({ defaultA: null, defaultAAAA: "::1" });
    try {
      const r = resolverFor(v6);
      expect(await r.resolve6("anything.example.test")).toEqual(["::1"]);
      await expect(r.resolve4("anything.example.test")).rejects.toMatchObject({ code: "ENODATA" });
    } finally {
      await v6.close();
    }
  });

  it("binds a fixed port when asked", async () => {
    const probe = await startTestDns();
    const { port } = probe;
    await probe.close();
    const fixed = await startTestDns({ port });
    try {
      expect(fixed.port).toBe(port);
      expect(await resolverFor(fixed).resolve4("fixed.example.test")).toEqual(["127.0.0.1"]);
    } finally {
      await fixed.close();
    }
  });
});
