// A small authoritative DNS server on loopback, for tests. Signet's ACME validator (node's
// `dns.promises.Resolver` pointed at it with `setServers`) and real ACME clients (lego's `exec`
// DNS provider through `lego-dns-exec.mjs`, pebble's `-dnsserver`) resolve test names here and
// never leave the machine.
//
// It is authoritative for every name: A and AAAA come from explicit records or a default address,
// TXT from explicit records, and every other type (CAA included) is an empty NOERROR answer. It
// speaks UDP and TCP on one port, and a small HTTP control endpoint lets a child process (lego's
// exec hook) add and remove TXT records.
//
// Everything is answered with TTL 0 and negative answers carry no SOA: c-ares (node's resolver) has
// a query cache that honours the TTL and caches negative answers only for the SOA minimum, so a
// record changed by a test is seen by the very next query.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { createServer as createTcpServer, isIPv4, isIPv6, type AddressInfo, type Server as TcpServer, type Socket as TcpSocket } from "node:net";

export interface TestDns {
  /** UDP and TCP port on 127.0.0.1 */
  port: number;
  /** "127.0.0.1:PORT" */
  address: string;
  /** http://127.0.0.1:CPORT : the control endpoint used by lego-dns-exec.mjs */
  controlUrl: string;
  /** Replaces the TXT records of `name` (case-insensitive, trailing dot optional); [] removes them. */
  setTxt(name: string, values: string[]): void;
  addTxt(name: string, value: string): void;
  /** Removes one TXT value, or all of them when `value` is omitted. */
  removeTxt(name: string, value?: string): void;
  /** Replaces the A records of `name`; [] removes them, so the name answers the default again. */
  setA(name: string, ips: string[]): void;
  /** Replaces the AAAA records of `name`; [] removes them, so the name answers the default again. */
  setAAAA(name: string, ips: string[]): void;
  /** Names queried so far (lowercase, no trailing dot), for assertions */
  queries: { name: string; type: string }[];
  close(): Promise<void>;
}

export interface TestDnsOptions {
  /** Answer to A queries for names without A records; null: such names have no A (NXDOMAIN if unknown). Default "127.0.0.1". */
  defaultA?: string | null;
  /** Answer to AAAA queries for names without AAAA records; null (the default): no AAAA. */
  defaultAAAA?: string | null;
  /** Fixed port for UDP and TCP; by default a free one is picked. */
  port?: number;
}

const HOST = "127.0.0.1";
const TTL = 0;
/** Largest body the control endpoint reads; its requests are a name and a value. */
const CONTROL_BODY_LIMIT = 64 * 1024;
/** RFC 1035 §4.2.1: a UDP answer without EDNS is at most 512 bytes. */
const CLASSIC_UDP_LIMIT = 512;
/** The UDP payload size we advertise in our own OPT record (the DNS flag day 2020 value). */
const OUR_UDP_PAYLOAD = 1232;
const TCP_LIMIT = 0xffff;

const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  DNSKEY: 48,
  SVCB: 64,
  HTTPS: 65,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const;
const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([name, code]) => [code, name]));
const CLASS_IN = 1;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** RFC 6891 §6.1.3: an extended RCODE, carried partly in the OPT record. */
const RCODE_BADVERS = 16;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const EDNS_DO = 0x8000;

/** A query we cannot make sense of: answered with FORMERR. */
class MalformedQuery extends Error {}

interface Edns {
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

interface Query {
  id: number;
  opcode: number;
  rd: boolean;
  /** Question labels as received (case preserved, so the echo matches the query byte for byte). */
  labels: Buffer[];
  type: number;
  klass: number;
  edns: Edns | undefined;
}

interface RecordSet {
  a?: string[];
  aaaa?: string[];
  txt?: string[];
}

export async function startTestDns(opts: TestDnsOptions = {}): Promise<TestDns> {
  const defaultA = opts.defaultA === undefined ? "127.0.0.1" : opts.defaultA;
  const defaultAAAA = opts.defaultAAAA ?? null;
  if (defaultA !== null) ipv4Bytes(defaultA);
  if (defaultAAAA !== null) ipv6Bytes(defaultAAAA);

  const records = new Map<string, RecordSet>();
  const queries: { name: string; type: string }[] = [];

  const update = (name: string, change: (set: RecordSet) => void): void => {
    const key = normalizeName(name);
    const set = records.get(key) ?? {};
    change(set);
    if (set.a === undefined && set.aaaa === undefined && set.txt === undefined) records.delete(key);
    else records.set(key, set);
  };
  // An RRset holds no duplicates (RFC 2181 §5), and an empty one is no record at all.
  const rrset = (values: string[]): string[] | undefined => (values.length > 0 ? [...new Set(values)] : undefined);

  const setTxt = (name: string, values: string[]): void => update(name, (set) => (set.txt = rrset(values)));
  const addTxt = (name: string, value: string): void => update(name, (set) => (set.txt = rrset([...(set.txt ?? []), value])));
  const removeTxt = (name: string, value?: string): void =>
    update(name, (set) => (set.txt = value === undefined ? undefined : rrset((set.txt ?? []).filter((v) => v !== value))));
  const setA = (name: string, ips: string[]): void => {
    ips.forEach(ipv4Bytes);
    update(name, (set) => (set.a = rrset(ips)));
  };
  const setAAAA = (name: string, ips: string[]): void => {
    ips.forEach(ipv6Bytes);
    update(name, (set) => (set.aaaa = rrset(ips)));
  };

  /** A name exists if defaults give every name an address, it has records, or a name below it does. */
  const exists = (name: string): boolean => {
    if (defaultA !== null || defaultAAAA !== null || name === "" || records.has(name)) return true;
    for (const key of records.keys()) if (key.endsWith(`.${name}`)) return true;
    return false;
  };

  const lookup = (name: string, type: number): { rcode: number; rdata: Buffer[] } => {
    const set = records.get(name);
    let rdata: Buffer[] = [];
    if (type === TYPE.A) rdata = (set?.a ?? (defaultA === null ? [] : [defaultA])).map(ipv4Bytes);
    else if (type === TYPE.AAAA) rdata = (set?.aaaa ?? (defaultAAAA === null ? [] : [defaultAAAA])).map(ipv6Bytes);
    else if (type === TYPE.TXT) rdata = (set?.txt ?? []).map(txtRdata);
    // Any other type (CAA included) is NODATA. An empty CAA set at every name means no CAA
    // restriction anywhere on the tree (RFC 8659 §3), so every CA may issue.
    if (rdata.length === 0 && !exists(name)) return { rcode: RCODE.NXDOMAIN, rdata };
    return { rcode: RCODE.NOERROR, rdata };
  };

  /** The reply to one DNS message, or undefined to drop it. */
  const answer = (msg: Buffer, sizeLimit: (edns: Edns | undefined) => number): Buffer | undefined => {
    // Fewer than 12 bytes has no ID to answer to; a message with QR set is a response, and
    // answering responses is how two servers end up in a loop.
    if (msg.length < 12) return undefined;
    const id = msg.readUInt16BE(0);
    const flags = msg.readUInt16BE(2);
    if (flags & FLAG_QR) return undefined;
    const opcode = (flags >> 11) & 0xf;
    const rd = (flags & FLAG_RD) !== 0;
    if (opcode !== 0) return headerOnly(id, opcode, rd, RCODE.NOTIMP);

    let query: Query;
    try {
      query = parseQuery(msg, id, opcode, rd);
    } catch (err) {
      if (err instanceof MalformedQuery) return headerOnly(id, opcode, rd, RCODE.FORMERR);
      throw err;
    }

    const name = wireNameToText(query.labels);
    queries.push({ name, type: TYPE_NAMES.get(query.type) ?? `TYPE${query.type}` });

    const limit = sizeLimit(query.edns);
    if (query.edns && query.edns.version !== 0) return encodeResponse(query, { rcode: RCODE_BADVERS, rdata: [] }, false, limit);
    // Only class IN has data here, and zone transfers are not offered.
    if (query.klass !== CLASS_IN || query.type === TYPE.AXFR || query.type === TYPE.IXFR) {
      return encodeResponse(query, { rcode: RCODE.REFUSED, rdata: [] }, false, limit);
    }
    return encodeResponse(query, lookup(name, query.type), true, limit);
  };

  // A bug in here must show up as a SERVFAIL in the test that hit it, never as a crashed worker.
  const safeAnswer = (msg: Buffer, sizeLimit: (edns: Edns | undefined) => number): Buffer | undefined => {
    try {
      return answer(msg, sizeLimit);
    } catch {
      if (msg.length < 12) return undefined;
      const flags = msg.readUInt16BE(2);
      return headerOnly(msg.readUInt16BE(0), (flags >> 11) & 0xf, (flags & FLAG_RD) !== 0, RCODE.SERVFAIL);
    }
  };
  const udpLimit = (edns: Edns | undefined): number => (edns ? Math.max(CLASSIC_UDP_LIMIT, edns.udpSize) : CLASSIC_UDP_LIMIT);
  const tcpLimit = (): number => TCP_LIMIT;

  const { udp, tcp } = await bindUdpAndTcp(opts.port);
  const port = (udp.address() as AddressInfo).port;

  udp.on("message", (msg, peer) => {
    const reply = safeAnswer(msg, udpLimit);
    // A send error (the peer went away) concerns that peer only.
    if (reply) udp.send(reply, peer.port, peer.address, () => undefined);
  });
  // After a successful bind, errors on a UDP socket concern single datagrams; keep serving.
  udp.on("error", () => undefined);

  const tcpSockets = new Set<TcpSocket>();
  tcp.on("connection", (socket) => {
    tcpSockets.add(socket);
    socket.on("close", () => tcpSockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // RFC 1035 §4.2.2 / RFC 7766: each message is prefixed by its 16-bit length, and a client
    // may pipeline several on one connection.
    let pending: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const reply = safeAnswer(pending.subarray(2, 2 + length), tcpLimit);
        pending = pending.subarray(2 + length);
        if (reply) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([prefix, reply]));
        }
      }
    });
  });

  const control = createHttpServer((req, res) => {
    void handleControl(req, res, { setTxt, addTxt, removeTxt });
  });
  await new Promise<void>((resolve, reject) => {
    control.once("error", reject);
    control.listen({ port: 0, host: HOST }, () => {
      control.off("error", reject);
      resolve();
    });
  });
  const controlPort = (control.address() as AddressInfo).port;

  return {
    port,
    address: `${HOST}:${port}`,
    controlUrl: `http://${HOST}:${controlPort}`,
    setTxt,
    addTxt,
    removeTxt,
    setA,
    setAAAA,
    queries,
    async close() {
      for (const socket of tcpSockets) socket.destroy();
      // fetch keeps connections alive; close() alone would wait for them to time out.
      control.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
        new Promise<void>((resolve) => control.close(() => resolve())),
      ]);
    },
  };
}

// --- Sockets ----------------------------------------------------------------------------------

/**
 * Binds UDP first (port 0 picks a free one), then TCP on the same number. Another process may
 * hold that TCP port, so with a picked port this retries a few times with a fresh one.
 */
async function bindUdpAndTcp(fixedPort: number | undefined): Promise<{ udp: UdpSocket; tcp: TcpServer }> {
  const attempts = fixedPort === undefined ? 5 : 1;
  for (let attempt = 1; ; attempt++) {
    const udp = createSocket("udp4");
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind({ port: fixedPort ?? 0, address: HOST }, () => {
          udp.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    const tcp = createTcpServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen({ port: (udp.address() as AddressInfo).port, host: HOST }, () => {
          tcp.off("error", reject);
          resolve();
        });
      });
      return { udp, tcp };
    } catch (err) {
      udp.close();
      if (attempt >= attempts || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
}

// --- Control endpoint -------------------------------------------------------------------------

interface TxtControl {
  setTxt(name: string, values: string[]): void;
  addTxt(name: string, value: string): void;
  removeTxt(name: string, value?: string): void;
}

/** POST /present and /cleanup {fqdn, value} (lego's exec and httpreq vocabulary), POST /set-txt {name, values}. */
async function handleControl(req: IncomingMessage, res: ServerResponse, dns: TxtControl): Promise<void> {
  const reply = (status: number, message?: string): void => {
    if (message === undefined) res.writeHead(status).end();
    else res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(`${message}\n`);
  };
  const route = req.url?.split("?")[0];
  if (route !== "/present" && route !== "/cleanup" && route !== "/set-txt") return reply(404, "not found");
  if (req.method !== "POST") return reply(405, "use POST");
  try {
    const body = await readJsonObject(req);
    if (route === "/present") dns.addTxt(stringField(body, "fqdn"), stringField(body, "value"));
    else if (route === "/cleanup") dns.removeTxt(stringField(body, "fqdn"), stringField(body, "value"));
    else dns.setTxt(stringField(body, "name"), stringArrayField(body, "values"));
    reply(204);
  } catch (err) {
    reply(400, err instanceof Error ? err.message : "bad request");
  }
}

async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > CONTROL_BODY_LIMIT) throw new Error("body too large");
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new Error("body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("body is not a JSON object");
  return body as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== "string") throw new Error(`"${key}" must be a string`);
  return value;
}

function stringArrayField(body: Record<string, unknown>, key: string): string[] {
  const value = body[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new Error(`"${key}" must be an array of strings`);
  return value as string[];
}

// --- Wire format: parsing ---------------------------------------------------------------------

/**
 * Parses the question and finds the EDNS OPT record (RFC 1035 §4.1, RFC 6891 §6.1). Anything
 * that does not add up (not exactly one question, a name or record running past the end, a bad
 * compression pointer, two OPT records) is a MalformedQuery.
 */
function parseQuery(msg: Buffer, id: number, opcode: number, rd: boolean): Query {
  const qdcount = msg.readUInt16BE(4);
  const otherRecords = msg.readUInt16BE(6) + msg.readUInt16BE(8);
  const additional = msg.readUInt16BE(10);
  if (qdcount !== 1) throw new MalformedQuery("a query has exactly one question");

  const question = readName(msg, 12);
  let pos = question.end;
  if (pos + 4 > msg.length) throw new MalformedQuery("question runs past the end");
  const type = msg.readUInt16BE(pos);
  const klass = msg.readUInt16BE(pos + 2);
  pos += 4;

  // Answer and authority records are unusual in a query, but they have to be stepped over to
  // reach the additional section.
  for (let i = 0; i < otherRecords; i++) pos = readRecord(msg, pos).end;

  let edns: Edns | undefined;
  for (let i = 0; i < additional; i++) {
    const record = readRecord(msg, pos);
    pos = record.end;
    if (record.type !== TYPE.OPT) continue;
    if (edns !== undefined || record.labels.length !== 0) throw new MalformedQuery("OPT must be unique and owned by the root");
    edns = { udpSize: record.klass, version: (record.ttl >>> 16) & 0xff, dnssecOk: (record.ttl & EDNS_DO) !== 0 };
  }
  return { id, opcode, rd, labels: question.labels, type, klass, edns };
}

function readRecord(msg: Buffer, start: number): { labels: Buffer[]; type: number; klass: number; ttl: number; end: number } {
  const { labels, end: nameEnd } = readName(msg, start);
  if (nameEnd + 10 > msg.length) throw new MalformedQuery("record header runs past the end");
  const rdlength = msg.readUInt16BE(nameEnd + 8);
  const end = nameEnd + 10 + rdlength;
  if (end > msg.length) throw new MalformedQuery("record data runs past the end");
  return { labels, type: msg.readUInt16BE(nameEnd), klass: msg.readUInt16BE(nameEnd + 2), ttl: msg.readUInt32BE(nameEnd + 4), end };
}

/**
 * Reads a possibly compressed name (RFC 1035 §4.1.4). Every pointer must land strictly before the
 * previous jump target (or the name's start), so a chain of pointers always makes progress and a
 * crafted loop is rejected rather than followed.
 */
function readName(msg: Buffer, start: number): { labels: Buffer[]; end: number } {
  const labels: Buffer[] = [];
  let pos = start;
  let lowestJump = start;
  let end: number | undefined;
  let wireLength = 1; // the root label
  for (;;) {
    const length = msg[pos];
    if (length === undefined) throw new MalformedQuery("name runs past the end");
    if (length === 0) return { labels, end: end ?? pos + 1 };
    if ((length & 0xc0) === 0xc0) {
      const low = msg[pos + 1];
      if (low === undefined) throw new MalformedQuery("compression pointer runs past the end");
      const target = ((length & 0x3f) << 8) | low;
      if (target >= lowestJump) throw new MalformedQuery("compression pointer does not point backwards");
      end ??= pos + 2;
      lowestJump = target;
      pos = target;
      continue;
    }
    if ((length & 0xc0) !== 0) throw new MalformedQuery("unknown label type");
    wireLength += length + 1;
    if (wireLength > 255) throw new MalformedQuery("name longer than 255 bytes");
    if (pos + 1 + length > msg.length) throw new MalformedQuery("label runs past the end");
    labels.push(msg.subarray(pos + 1, pos + 1 + length));
    pos += 1 + length;
  }
}

// --- Wire format: answers ---------------------------------------------------------------------

function headerOnly(id: number, opcode: number, rd: boolean, rcode: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(FLAG_QR | (opcode << 11) | (rd ? FLAG_RD : 0) | rcode, 2);
  return header;
}

/**
 * Header, the question echoed, the answers (owner name: a pointer to the question at offset 12)
 * and, if the query had EDNS, our OPT record. An answer over `sizeLimit` loses all its records and
 * gets TC, telling the client to ask again over TCP (RFC 2181 §9).
 */
function encodeResponse(query: Query, result: { rcode: number; rdata: Buffer[] }, authoritative: boolean, sizeLimit: number): Buffer {
  const question = Buffer.concat([encodeName(query.labels), u16(query.type), u16(query.klass)]);
  const answers = result.rdata.map((rdata) => Buffer.concat([u16(0xc00c), u16(query.type), u16(CLASS_IN), u32(TTL), u16(rdata.length), rdata]));
  const opt = query.edns ? optRecord(result.rcode, query.edns) : Buffer.alloc(0);

  let truncated = false;
  let answerBytes = answers.reduce((sum, a) => sum + a.length, 0);
  if (12 + question.length + answerBytes + opt.length > sizeLimit) {
    truncated = true;
    answers.length = 0;
    answerBytes = 0;
  }

  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.id, 0);
  header.writeUInt16BE(
    FLAG_QR | (query.opcode << 11) | (authoritative ? FLAG_AA : 0) | (truncated ? FLAG_TC : 0) | (query.rd ? FLAG_RD : 0) | (result.rcode & 0xf),
    2,
  );
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(query.edns ? 1 : 0, 10);
  return Buffer.concat([header, question, ...answers, opt]);
}

/** RFC 6891 §6.1.1: a query with OPT gets OPT back; the upper RCODE bits and the DO bit ride in its TTL. */
function optRecord(rcode: number, edns: Edns): Buffer {
  const ttl = ((rcode >> 4) << 24) | (edns.dnssecOk ? EDNS_DO : 0);
  return Buffer.concat([Buffer.from([0]), u16(TYPE.OPT), u16(OUR_UDP_PAYLOAD), u32(ttl >>> 0), u16(0)]);
}

function encodeName(labels: Buffer[]): Buffer {
  return Buffer.concat([...labels.flatMap((label) => [Buffer.from([label.length]), label]), Buffer.from([0])]);
}

/** TXT RDATA: character-strings of at most 255 bytes each (RFC 1035 §3.3.14); readers concatenate them. */
function txtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  const parts: Buffer[] = [];
  for (let offset = 0; offset < bytes.length || parts.length === 0; offset += 255) {
    const chunk = bytes.subarray(offset, offset + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

// --- Names and addresses ----------------------------------------------------------------------

/** DNS names compare case-insensitively in ASCII only (RFC 4343). */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function normalizeName(name: string): string {
  return asciiLower(name.endsWith(".") ? name.slice(0, -1) : name);
}

function wireNameToText(labels: Buffer[]): string {
  return asciiLower(labels.map((label) => label.toString("latin1")).join("."));
}

function ipv4Bytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(ip.split(".").map(Number));
}

function ipv6Bytes(ip: string): Buffer {
  if (!isIPv6(ip) || ip.includes("%")) throw new Error(`not an IPv6 address: ${ip}`);
  // Rewrite a trailing dotted quad (::ffff:1.2.3.4) as two groups, then expand "::".
  let text = ip;
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const quad = ipv4Bytes(tail);
    text = `${text.slice(0, lastColon + 1)}${quad.readUInt16BE(0).toString(16)}:${quad.readUInt16BE(2).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === undefined || rest === "" ? [] : rest.split(":");
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill("0"), ...restGroups];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}
