// A software TPM for end-to-end attestation tests: Debian's swtpm, manufactured by swtpm_setup with
// EK certificates from its own local CA (swtpm_localca, a root and an intermediate kept in the test's
// folder), driven by Debian's tpm2-tools over TCP on loopback. Everything a device does is done here
// by the TPM itself; the test only moves bytes between tpm2-tools and Signet.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { freePort } from "./acme.js";
import { findPeer } from "./peers.js";

export const swtpmPeer = findPeer("swtpm");
export const tpm2Peer = findPeer("tpm2_createek", "tpm2-tools");
export const swtpmSetupPeer = findPeer("swtpm_setup", "swtpm-tools");
export const swtpmSkip = swtpmPeer.skip || swtpmSetupPeer.skip || tpm2Peer.skip;

export class SoftTpm {
  private constructor(
    readonly dir: string,
    private readonly proc: ChildProcess,
    private readonly port: number,
  ) {}

  /** Manufactures a TPM in `dir` (EK certificates included) and starts it. */
  static async start(dir: string): Promise<SoftTpm> {
    mkdirSync(join(dir, "state"), { recursive: true });
    mkdirSync(join(dir, "localca"), { recursive: true });
    writeFileSync(
      join(dir, "localca.conf"),
      [`statedir = ${dir}/localca`, `signingkey = ${dir}/localca/signkey.pem`, `issuercert = ${dir}/localca/issuercert.pem`, `certserial = ${dir}/localca/certserial`, ""].join("\n"),
    );
    writeFileSync(join(dir, "localca.options"), "--platform-manufacturer Signet\n--platform-version 2.1\n--platform-model test\n");
    writeFileSync(
      join(dir, "setup.conf"),
      [`create_certs_tool = /usr/bin/swtpm_localca`, `create_certs_tool_config = ${dir}/localca.conf`, `create_certs_tool_options = ${dir}/localca.options`, "active_pcr_banks = sha256", ""].join("\n"),
    );
    execFileSync("swtpm_setup", ["--tpm2", "--tpmstate", join(dir, "state"), "--create-ek-cert", "--create-platform-cert", "--config", join(dir, "setup.conf"), "--overwrite"], { stdio: "pipe", timeout: 30_000 });
    // The swtpm TCTI finds the control channel at the server port + 1.
    let port = await freePort();
    for (let i = 0; i < 20 && !(await free(port + 1)); i++) port = await freePort();
    const ctrl = port + 1;
    const proc = spawn(
      "swtpm",
      ["socket", "--tpm2", "--tpmstate", `dir=${join(dir, "state")}`, "--server", `type=tcp,port=${port},bindaddr=127.0.0.1`, "--ctrl", `type=tcp,port=${ctrl},bindaddr=127.0.0.1`, "--flags", "not-need-init,startup-clear"],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100; i++) {
      if (await reachable(port)) return new SoftTpm(dir, proc, port);
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill("SIGKILL");
    throw new Error("swtpm did not start listening within 5 s");
  }

  /** The manufacturer's root (what Signet is configured to trust) and the intermediate that signed
   * the EK certificate (what the device sends along). */
  get manufacturerRootPem(): string {
    return readFileSync(join(this.dir, "localca", "swtpm-localca-rootca-cert.pem"), "utf8");
  }

  get manufacturerIntermediateDer(): Buffer {
    const pem = readFileSync(join(this.dir, "localca", "issuercert.pem"), "utf8");
    return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  /** Runs a tpm2-tools command against this TPM, then flushes transient objects (there is no
   * resource manager between the tools and the TPM). */
  tool(name: string, args: string[]): string {
    const env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${this.port}` };
    const out = execFileSync(name, args, { cwd: this.dir, env, stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 }).toString();
    execFileSync("tpm2_flushcontext", ["-t"], { cwd: this.dir, env, stdio: "pipe", timeout: 30_000 });
    return out;
  }

  /** The RSA EK certificate the manufacturer stored in NV (TCG index 0x01c00002). */
  ekCertificate(): Buffer {
    this.tool("tpm2_nvread", ["0x1c00002", "-o", "ek-cert.der"]);
    return readFileSync(this.file("ek-cert.der"));
  }

  /** Creates the EK and an ECDSA P-256 attestation key under it; returns their TPM2B_PUBLIC. */
  createEkAndAk(): { ekPublic: Buffer; akPublic: Buffer } {
    this.tool("tpm2_createek", ["-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub", "-f", "tss"]);
    this.tool("tpm2_createak", ["-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256", "-s", "ecdsa", "-u", "ak.pub", "-n", "ak.name", "-f", "tss"]);
    return { ekPublic: readFileSync(this.file("ek.pub")), akPublic: readFileSync(this.file("ak.pub")) };
  }

  /** TPM2_ActivateCredential: the secret, if the credential was made for this EK and this AK. */
  activateCredential(credentialFile: Buffer): Buffer {
    writeFileSync(this.file("cred.in"), credentialFile);
    const env = { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${this.port}` };
    // The EK's policy (PolicySecret of the endorsement hierarchy) needs a policy session.
    const run = (name: string, args: string[]) => execFileSync(name, args, { cwd: this.dir, env, stdio: "pipe", timeout: 30_000 });
    run("tpm2_startauthsession", ["--policy-session", "-S", "session.ctx"]);
    try {
      run("tpm2_policysecret", ["-S", "session.ctx", "-c", "e"]);
      run("tpm2_activatecredential", ["-c", "ak.ctx", "-C", "ek.ctx", "-i", "cred.in", "-o", "secret.out", "-P", "session:session.ctx"]);
    } finally {
      run("tpm2_flushcontext", ["session.ctx"]);
      run("tpm2_flushcontext", ["-t"]);
    }
    return readFileSync(this.file("secret.out"));
  }

  /** A new P-256 signing key in the TPM under the owner hierarchy, with its creation ticket. Returns
   * its TPMT_PUBLIC (the WebAuthn pubArea) and DER SPKI. */
  createKey(attributes = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign"): { pubArea: Buffer; spki: Buffer } {
    this.tool("tpm2_createprimary", ["-C", "o", "-g", "sha256", "-G", "ecc", "-c", "prim.ctx", "-Q"]);
    this.tool("tpm2_create", ["-C", "prim.ctx", "-G", "ecc256:ecdsa-sha256", "-u", "key.pub", "-r", "key.priv", "-a", attributes, "--creation-data", "key.cdata", "--creation-ticket", "key.ticket", "--creation-hash", "key.chash", "-Q"]);
    this.tool("tpm2_load", ["-C", "prim.ctx", "-u", "key.pub", "-r", "key.priv", "-c", "key.ctx", "-Q"]);
    this.tool("tpm2_readpublic", ["-c", "key.ctx", "-o", "key.der", "-f", "der", "-Q"]);
    const sized = readFileSync(this.file("key.pub"));
    return { pubArea: sized.subarray(2, 2 + sized.readUInt16BE(0)), spki: readFileSync(this.file("key.der")) };
  }

  /** TPM2_CertifyCreation by the AK over the key: the TPMS_ATTEST and DER ECDSA signature, with
   * `qualifyingData` as extraData. */
  certifyCreation(qualifyingData: Buffer): { certInfo: Buffer; sig: Buffer } {
    this.tool("tpm2_certifycreation", ["-C", "ak.ctx", "-c", "key.ctx", "-d", "key.chash", "-t", "key.ticket", "-g", "sha256", "-f", "plain", "-o", "certify.sig", "--attestation", "certify.attest", "-q", qualifyingData.toString("hex")]);
    return { certInfo: readFileSync(this.file("certify.attest")), sig: readFileSync(this.file("certify.sig")) };
  }

  /** Signs with the TPM key (ECDSA with SHA-256, DER), e.g. a certificate request. */
  sign(message: Buffer): Buffer {
    writeFileSync(this.file("msg.bin"), message);
    this.tool("tpm2_sign", ["-c", "key.ctx", "-g", "sha256", "-s", "ecdsa", "-f", "plain", "-o", "msg.sig", "msg.bin"]);
    return readFileSync(this.file("msg.sig"));
  }

  stop(): void {
    this.proc.kill("SIGKILL");
  }
}

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
