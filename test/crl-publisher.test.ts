// The CRL publisher over an in-memory revocation source (each revocation at an audit seq, as the
// database records it) and a clock the tests set: full and delta CRLs, their numbers and bases,
// what each lists, and OpenSSL's verdict on the signature.
import { spawnSync } from "node:child_process";
import { verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newSerialHex, type IssuerContext } from "../ca/authority.js";
import { CrlPublisher, type PublishedCrl, type RevokedSource } from "../ca/crl-publisher.js";
import { parseCrl, type RevokedEntry } from "../ca/x509/crl.js";
import { toPem } from "../ca/x509/index.js";
import { issuer, removeTestCas, TEST_HTTP_URL, testCa } from "./support/ca-fixture.js";

const tmp = mkdtempSync(join(tmpdir(), "signet-crl-publisher-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  removeTestCas();
});

/** openssl with the given files, stdout and stderr together: `openssl crl -verify` (OpenSSL 3.0)
 * exits 0 either way and says "verify OK" or "verify failure" on stderr, which the helper in
 * support/csr.ts drops when the exit code is 0. */
function openssl(args: string[], files: Record<string, string | Buffer>): { code: number | null; out: string } {
  for (const [name, content] of Object.entries(files)) writeFileSync(join(tmp, name), content);
  const r = spawnSync("openssl", args, { cwd: tmp, encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const DAY = 86_400_000;
const VALIDITY = 86_400;
const DELTA_VALIDITY = 3600;
const T0 = Math.floor(Date.now() / 1000) * 1000;

/** Revocations as the database keeps them: an audit seq each, other events in between. */
class MemoryRevocations implements RevokedSource {
  seq = 0n;
  readonly rows: Array<{ issuerId: string; seq: bigint; notAfter: number; entry: RevokedEntry }> = [];
  readonly calls: Array<{ method: "revokedUnexpired" | "revokedSince"; issuerId: string; at: Date; afterSeq?: bigint }> = [];

  revoke(issuerId: string, over: Partial<RevokedEntry> & { notAfter?: number } = {}): RevokedEntry {
    this.seq += 3n; // an intent and an issuance, say, between revocations
    const { notAfter = T0 + 30 * DAY, ...rest } = over;
    const entry: RevokedEntry = { serialHex: newSerialHex(), revokedAt: T0 - 60_000, reason: 1, invalidityDate: null, ...rest };
    this.rows.push({ issuerId, seq: this.seq, notAfter, entry });
    return entry;
  }

  async highWater(): Promise<bigint> {
    return this.seq;
  }

  async revokedUnexpired(issuerId: string, at: Date): Promise<RevokedEntry[]> {
    this.calls.push({ method: "revokedUnexpired", issuerId, at });
    return this.rows.filter((r) => r.issuerId === issuerId && r.notAfter > at.getTime()).map((r) => r.entry);
  }

  async revokedSince(issuerId: string, afterSeq: bigint, at: Date): Promise<RevokedEntry[]> {
    this.calls.push({ method: "revokedSince", issuerId, at, afterSeq });
    return this.rows.filter((r) => r.issuerId === issuerId && r.seq > afterSeq && r.notAfter > at.getTime()).map((r) => r.entry);
  }
}

let int: IssuerContext;
let root: IssuerContext;
let chainPem: string;
let intPem: string;
let rootPem: string;

beforeAll(async () => {
  const { ca } = await testCa("P-256");
  int = issuer(ca.intermediate.certDer, ca.intermediate.signer);
  root = issuer(ca.root.certDer, ca.root.signer ?? null);
  intPem = toPem("CERTIFICATE", ca.intermediate.certDer);
  rootPem = toPem("CERTIFICATE", ca.root.certDer);
  chainPem = rootPem + intPem;
});

const deltaUrl = (id: string) => `${TEST_HTTP_URL}/crl/${id}-delta.crl`;

function setup(issuers: IssuerContext[] = [int]) {
  const clock = { ms: T0 };
  const source = new MemoryRevocations();
  const publisher = new CrlPublisher({
    issuers,
    source,
    validitySeconds: VALIDITY,
    deltaValiditySeconds: DELTA_VALIDITY,
    deltaUrl,
    clock: () => new Date(clock.ms),
  });
  return { clock, source, publisher };
}

const pick = (out: PublishedCrl[], issuerId: string, kind: "full" | "delta") => {
  const found = out.filter((c) => c.issuerId === issuerId && c.kind === kind);
  expect(found).toHaveLength(1);
  return found[0]!;
};

const serialsOf = (c: PublishedCrl) => parseCrl(c.der).entries.map((e) => e.serialHex).sort();
const sorted = (entries: RevokedEntry[]) => entries.map((e) => e.serialHex).sort();

describe("CrlPublisher", () => {
  it("publish({anchor: true}) makes a full CRL and a delta based on it, both signed by the issuer", async () => {
    const { source, publisher } = setup();
    const a = source.revoke(int.id, { reason: 1, invalidityDate: T0 - DAY });
    const b = source.revoke(int.id, { reason: 0 });
    source.revoke(root.id); // another issuer's

    const out = await publisher.publish({ anchor: true });
    expect(out.map((c) => c.kind)).toEqual(["full", "delta"]);
    const [full, delta] = out as [PublishedCrl, PublishedCrl];

    const f = parseCrl(full.der);
    expect(f.issuerDer.equals(int.subjectDer)).toBe(true);
    expect(f.authorityKeyId!.equals(int.subjectKeyId)).toBe(true);
    expect(f.crlNumber).toBe(full.number);
    expect(f.deltaBaseCrlNumber).toBeNull();
    expect(f.freshestCrlUrls).toEqual([deltaUrl(int.id)]);
    expect(f.thisUpdate.getTime()).toBe(T0);
    expect(f.nextUpdate!.getTime()).toBe(T0 + VALIDITY * 1000);
    expect(f.entries.map((e) => e.serialHex).sort()).toEqual(sorted([a, b]));
    const fa = f.entries.find((e) => e.serialHex === a.serialHex)!;
    expect(fa).toEqual({ serialHex: a.serialHex, revokedAt: a.revokedAt, reason: 1, invalidityDate: T0 - DAY });
    // reason 0 (unspecified) is written by leaving the reasonCode out.
    expect(f.entries.find((e) => e.serialHex === b.serialHex)!.reason).toBeNull();
    expect(verify(int.signer!.signatureAlgorithm.hash, f.tbs, int.signer!.publicKey, f.signature)).toBe(true);
    expect(full).toMatchObject({ issuerId: int.id, kind: "full", baseNumber: null, entries: 2, lastModifiedHttp: new Date(T0).toUTCString() });
    expect(full.thisUpdate.getTime()).toBe(T0);
    expect(full.nextUpdate.getTime()).toBe(T0 + VALIDITY * 1000);
    expect(full.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]{16}"$/);

    const d = parseCrl(delta.der);
    expect(d.deltaBaseCrlNumber).toBe(full.number);
    expect(delta.baseNumber).toBe(full.number);
    expect(d.crlNumber).toBe(delta.number);
    expect(delta.number).toBeGreaterThan(full.number);
    // The Freshest CRL extension belongs in complete CRLs only (RFC 5280 §5.2.6).
    expect(d.freshestCrlUrls).toEqual([]);
    expect(d.thisUpdate.getTime()).toBe(T0);
    expect(d.nextUpdate!.getTime()).toBe(T0 + DELTA_VALIDITY * 1000);
    expect(d.entries).toEqual([]);
    expect(verify(int.signer!.signatureAlgorithm.hash, d.tbs, int.signer!.publicKey, d.signature)).toBe(true);

    expect(publisher.current(int.id, "full")).toBe(full);
    expect(publisher.current(int.id, "delta")).toBe(delta);
    expect(publisher.current(root.id, "full")).toBeNull();
  });

  it("lists a later revocation in the next delta and in a non-anchor full CRL, the delta's base staying the anchor", async () => {
    const { source, clock, publisher } = setup();
    const before = source.revoke(int.id);
    const anchorOut = await publisher.publish({ anchor: true });
    const anchor = pick(anchorOut, int.id, "full");

    clock.ms += 10_000;
    const after = source.revoke(int.id, { revokedAt: clock.ms - 1000, reason: 4 });
    const [delta1] = await publisher.publishDeltas();
    expect(delta1!.kind).toBe("delta");
    expect(serialsOf(delta1!)).toEqual([after.serialHex]);
    expect(parseCrl(delta1!.der).deltaBaseCrlNumber).toBe(anchor.number);
    expect(parseCrl(delta1!.der).entries[0]).toEqual({ ...after, invalidityDate: null });
    // The full CRL is not touched by publishDeltas.
    expect(publisher.current(int.id, "full")).toBe(anchor);

    clock.ms += 10_000;
    const out = await publisher.publish({ anchor: false });
    const full2 = pick(out, int.id, "full");
    const delta2 = pick(out, int.id, "delta");
    expect(serialsOf(full2)).toEqual(sorted([before, after]));
    expect(full2.number).toBeGreaterThan(anchor.number);
    expect(serialsOf(delta2)).toEqual([after.serialHex]);
    expect(delta2.baseNumber).toBe(anchor.number);
    expect(parseCrl(delta2.der).deltaBaseCrlNumber).toBe(anchor.number);

    // A new anchor moves the base; the delta starts empty again.
    clock.ms += 10_000;
    const out3 = await publisher.publish({ anchor: true });
    const anchor3 = pick(out3, int.id, "full");
    const delta3 = pick(out3, int.id, "delta");
    expect(delta3.baseNumber).toBe(anchor3.number);
    expect(parseCrl(delta3.der).deltaBaseCrlNumber).toBe(anchor3.number);
    expect(delta3.entries).toBe(0);
    const later = source.revoke(int.id);
    const [delta4] = await publisher.publishDeltas();
    expect(serialsOf(delta4!)).toEqual([later.serialHex]);
    expect(delta4!.baseNumber).toBe(anchor3.number);
  });

  it("reads the anchor's audit seq before the full CRL's entries, so nothing falls between the two", async () => {
    const { source, publisher } = setup();
    source.revoke(int.id);
    await publisher.publish({ anchor: true });
    const since = source.calls.filter((c) => c.method === "revokedSince");
    expect(since.map((c) => c.afterSeq)).toEqual([source.seq]);
  });

  it("the first publish anchors even without anchor: true, and publishDeltas does nothing before any publish", async () => {
    const { source, publisher } = setup();
    expect(await publisher.publishDeltas()).toEqual([]);
    source.revoke(int.id);
    const out = await publisher.publish({ anchor: false });
    expect(pick(out, int.id, "delta").baseNumber).toBe(pick(out, int.id, "full").number);
  });

  it("keeps CRL numbers strictly increasing across full and delta CRLs within one second, and when the clock steps back", async () => {
    const { clock, publisher } = setup([int, root]);
    const numbers: bigint[] = [];
    const record = (out: PublishedCrl[]) => numbers.push(...out.map((c) => c.number));
    record(await publisher.publish({ anchor: true }));
    // The first number is the second's time in milliseconds.
    expect(numbers[0]).toBe(BigInt(T0));
    clock.ms += 400; // the same second
    record(await publisher.publishDeltas());
    record(await publisher.publish({ anchor: false }));
    record(await publisher.publishDeltas());
    clock.ms -= 60_000; // stepped back
    record(await publisher.publish({ anchor: true }));
    clock.ms += 120_000;
    record(await publisher.publish({ anchor: false }));
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]!, `number ${i}`).toBeGreaterThan(numbers[i - 1]!);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(numbers.at(-4)).toBe(BigInt(T0 + 60_000));
    // Each CRL carries the number it was published with.
    const last = publisher.current(int.id, "full")!;
    expect(parseCrl(last.der).crlNumber).toBe(last.number);
  });

  it("lists only unexpired revocations, asking the source with the publisher's clock", async () => {
    const { source, clock, publisher } = setup();
    source.revoke(int.id, { notAfter: T0 - 1000 }); // expired already
    const expiring = source.revoke(int.id, { notAfter: T0 + 5000 });
    const lasting = source.revoke(int.id, { notAfter: T0 + DAY });
    const out = await publisher.publish({ anchor: true });
    expect(serialsOf(pick(out, int.id, "full"))).toEqual(sorted([expiring, lasting]));
    expect(source.calls.every((c) => c.at.getTime() === T0)).toBe(true);

    clock.ms += 10_000;
    source.revoke(int.id, { notAfter: T0 + 5000 }); // after the anchor, and expired by now: in neither
    const out2 = await publisher.publish({ anchor: false });
    expect(serialsOf(pick(out2, int.id, "full"))).toEqual([lasting.serialHex]);
    expect(serialsOf(pick(out2, int.id, "delta"))).toEqual([]);
    expect(source.calls.slice(-2).map((c) => [c.method, c.at.getTime()])).toEqual([
      ["revokedUnexpired", T0 + 10_000],
      ["revokedSince", T0 + 10_000],
    ]);
  });

  it("skips an offline root (no signer): it neither publishes nor is listed", async () => {
    const offlineRoot = { ...root, signer: null };
    const { source, publisher } = setup([int, offlineRoot]);
    source.revoke(root.id);
    expect(publisher.issuerIds).toEqual([int.id]);
    const out = await publisher.publish({ anchor: true });
    expect(out.map((c) => [c.issuerId, c.kind])).toEqual([
      [int.id, "full"],
      [int.id, "delta"],
    ]);
    expect(publisher.current(root.id, "full")).toBeNull();
    expect(source.calls.every((c) => c.issuerId === int.id)).toBe(true);
    // With the root online, it publishes its own pair.
    expect(setup([int, root]).publisher.issuerIds).toEqual([int.id, root.id]);
  });

  it("a failing source fails the run and leaves the published CRLs in place", async () => {
    const { source, publisher } = setup();
    const out = await publisher.publish({ anchor: true });
    source.revokedUnexpired = async () => {
      throw new Error("simulated database failure");
    };
    await expect(publisher.publish({ anchor: true })).rejects.toThrow(/simulated/);
    expect(publisher.current(int.id, "full")).toBe(pick(out, int.id, "full"));
    expect(publisher.current(int.id, "delta")).toBe(pick(out, int.id, "delta"));
  });

  it("writes PEM labelled X509 CRL that openssl reads and verifies, full and delta, for both CAs", async () => {
    const { source, publisher } = setup([int, root]);
    const revoked = source.revoke(int.id, { reason: 1 });
    source.revoke(root.id, { reason: 5 });
    const out = await publisher.publish({ anchor: true });
    source.revoke(int.id, { reason: 4 });
    out.push(...(await publisher.publishDeltas()));
    for (const c of out) {
      const pem = c.pem();
      expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n/);
      expect(pem).toMatch(/\n-----END X509 CRL-----\n$/);
      expect(c.pem()).toBe(pem);
      const ca = c.issuerId === int.id ? intPem : rootPem;
      const ok = openssl(["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-verify", "-noout", "-text"], { "crl.pem": pem, "ca.pem": ca });
      expect(ok.code, ok.out).toBe(0);
      expect(ok.out).toContain("verify OK");
      expect(ok.out).toMatch(new RegExp(`X509v3 CRL Number:\\s+${c.number}\\n`));
      if (c.kind === "delta") expect(ok.out).toMatch(new RegExp(`X509v3 Delta CRL Indicator: critical\\s+${c.baseNumber}`));
      else expect(ok.out).toContain(`URI:${deltaUrl(c.issuerId)}`);
      // The judge is not lenient: one changed octet of the signature fails it.
      const damaged = Buffer.from(c.der);
      damaged[damaged.length - 1]! ^= 0x01;
      const bad = openssl(["crl", "-in", "crl.der", "-inform", "DER", "-CAfile", "ca.pem", "-verify", "-noout"], { "crl.der": damaged, "ca.pem": ca });
      expect(bad.out).toContain("verify failure");
      expect(bad.out).not.toContain("verify OK");
    }
    const full = pick(out, int.id, "full");
    const listing = openssl(["crl", "-in", "crl.pem", "-noout", "-text"], { "crl.pem": full.pem() }).out;
    expect(listing.replace(/\s/g, "")).toContain(`SerialNumber:${revoked.serialHex.toUpperCase()}`);
    expect(listing).toContain("Key Compromise");
    // openssl verify -crl_check accepts the chain with the full CRLs of both CAs.
    const both = out.filter((c) => c.kind === "full").map((c) => c.pem()).join("");
    const v = openssl(["verify", "-crl_check_all", "-CAfile", "chain.pem", "-CRLfile", "crls.pem", "int.pem"], { "chain.pem": chainPem, "crls.pem": both, "int.pem": intPem });
    expect(v.out).toContain("int.pem: OK");
    expect(v.code, v.out).toBe(0);
  });
});
