// CSRs for tests: made by Signet's own builder (fast) or by openssl (an independent implementation).
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair } from "../../ca/keys/generate.js";
import type { KeyAlgorithm } from "../../ca/signer.js";
import { buildCsr, toPem, type SubjectAltNamesInput } from "../../ca/x509/index.js";

export interface TestCsr {
  pem: string;
  der: Buffer;
  privateKey: KeyObject;
  keyPem: string;
}

export function makeCsr(opts: { cn?: string; sans?: SubjectAltNamesInput; alg?: KeyAlgorithm } = {}): TestCsr {
  const alg = opts.alg ?? "P-256";
  const { privateKey, publicKey } = alg === "P-256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPair(alg);
  const der = buildCsr({ privateKey, publicKey, keyAlgorithm: alg, subject: opts.cn ? [{ type: "CN", value: opts.cn }] : [], sans: opts.sans ?? {} });
  return { der, pem: toPem("CERTIFICATE REQUEST", der), privateKey, keyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString() };
}

/** A CSR from `openssl req` with the given key algorithm arguments (e.g. ["-newkey", "rsa:1024"]). */
export function opensslCsr(newkey: string[], subj: string, san?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "signet-csr-"));
  try {
    execFileSync("openssl", ["req", "-new", ...newkey, "-nodes", "-keyout", join(dir, "k.pem"), "-subj", subj, ...(san ? ["-addext", `subjectAltName=${san}`] : []), "-out", join(dir, "r.pem")], { stdio: "pipe" });
    return readFileSync(join(dir, "r.pem"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs openssl in a temp dir holding the given files; returns {code, out}. */
export function openssl(args: string[], files: Record<string, string | Buffer> = {}): { code: number; out: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "signet-ossl-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  try {
    const out = execFileSync("openssl", args, { cwd: dir, stdio: "pipe", encoding: "utf8" });
    return { code: 0, out, dir };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`, dir };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
