// A small SCEP client (RFC 8894) for protocol tests and the bench: it speaks to a running server over
// HTTP exactly as a device would. GetCACaps, GetCACert, and PKIOperation messages built for real:
// the inner request encrypted to the RA certificate (EnvelopedData), signed by the requester
// (SignedData with the SCEP attributes), sent by POST or GET; the CertRep's signature checked against
// the RA certificate it carries, and a SUCCESS envelope decrypted with the requester's key.
//
// The CMS codec is Signet's own (scep/cms.ts). The RFC's numbers (messageType, pkiStatus, failInfo)
// are written out here rather than imported from the server, so a wrong table on either side shows.
import { createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { signatureAlgorithmFor, type KeyAlgorithm } from "../../ca/signer.js";
import { SCEP_OIDS, assembleCertificate, buildCsr, buildTbsCertificate, encodeName, parseCertificate, subjectKeyIdentifier } from "../../ca/x509/index.js";
import { TAG, decodeString, integer, octetString, printableString, seq } from "../../ca/x509/der.js";
import {
  attribute,
  buildEnvelopedData,
  buildSignedData,
  decryptEnvelope,
  parseEnvelopedData,
  parseSignedData,
  recipientFor,
  signerCertificate,
  toDer,
  verifySignerInfo,
  type ContentCipher,
  type ParsedSignedData,
} from "../../scep/cms.js";

/** RFC 8894 §3.2.1.2. */
const MESSAGE_TYPE = { CertRep: 3, RenewalReq: 17, PKCSReq: 19, CertPoll: 20, GetCert: 21, GetCRL: 22 } as const;
/** RFC 8894 §3.2.1.3. */
const PKI_STATUS = new Map([
  ["0", "SUCCESS"],
  ["2", "FAILURE"],
  ["3", "PENDING"],
] as const);
/** RFC 8894 §3.2.1.4. */
const FAIL_INFO = ["badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId"] as const;

export type PkiOperationKind = Exclude<keyof typeof MESSAGE_TYPE, "CertRep">;
export type EnvelopeCipher = Extract<ContentCipher, "aes-128-cbc" | "aes-256-cbc" | "des-ede3-cbc">;
export type RequestDigest = "sha256" | "sha1";
export type HttpMethod = "POST" | "GET";

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Who signs a request, and whose key decrypts the answer (it is encrypted to this certificate). */
export interface ScepSigner {
  certDer: Buffer;
  key: KeyObject;
}

export interface EnrolOptions {
  /** The key to certify; RSA-2048 is generated when absent. */
  key?: KeyPair;
  commonName: string;
  dns?: string[];
  challenge?: string;
  messageType?: "PKCSReq" | "RenewalReq";
  /** For RenewalReq: the existing certificate and its key. Default: a fresh self-signed certificate
   * for `key`. */
  signer?: ScepSigner;
  /** Default: base64 SHA-1 of the key's subjectPublicKey bits, as micromdm's scepclient makes it. */
  transactionId?: string;
  /** Default aes-256-cbc. */
  cipher?: EnvelopeCipher;
  /** Default sha256. */
  digest?: RequestDigest;
  /** Default POST. */
  method?: HttpMethod;
  /** Sent instead of a CSR built from the options above. */
  csrDer?: Buffer;
}

/** What every PKIOperation takes besides its inner content. */
export interface MessageOptions {
  signer: ScepSigner;
  transactionId?: string;
  cipher?: EnvelopeCipher;
  digest?: RequestDigest;
  method?: HttpMethod;
  /** Default: 16 random bytes. */
  senderNonce?: Buffer;
}

export interface OperationOptions extends MessageOptions {
  /** The DER the envelope carries: a CSR, an IssuerAndSubject or an IssuerAndSerialNumber. */
  content: Buffer;
}

export interface PollOptions extends MessageOptions {
  transactionId: string;
  /** The subject the enrolment asked for (DER Name); default: CN=commonName, else the signer's subject. */
  subjectDer?: Buffer;
  commonName?: string;
  /** Default: the CA certificate's subject, from GetCACert. */
  issuerDer?: Buffer;
}

export interface BuiltMessage {
  transactionId: string;
  senderNonce: Buffer;
  /** DER pkiMessage, as sent. */
  raw: Buffer;
}

/** A server's answer to a PKIOperation. */
export interface ScepAnswer {
  httpStatus: number;
  contentType: string;
  raw: Buffer;
  status?: "SUCCESS" | "FAILURE" | "PENDING";
  failInfo?: string;
  transactionId?: string;
  /** The CertRep's recipientNonce equals the request's senderNonce. */
  recipientNonceMatches?: boolean;
  /** The certificate that signed the CertRep, and whether it is the RA certificate of GetCACert. */
  signerCertDer?: Buffer;
  signedByRa?: boolean;
  /** SUCCESS, once decrypted: the degenerate SignedData's contents. */
  certificates?: Buffer[];
  crls?: Buffer[];
}

export interface ScepResponse extends ScepAnswer {
  request: BuiltMessage;
}

export interface EnrolResponse extends ScepResponse {
  /** The certified key (generated when the options gave none). */
  key: KeyPair;
  signer: ScepSigner;
  csrDer: Buffer;
}

const PKI_MESSAGE = "application/x-pki-message";

export class ScepClient {
  readonly #base: string;
  #caCert: Promise<{ ra: Buffer; ca: Buffer[] }> | null = null;

  /** `baseUrl`: the provisioner's SCEP URL, e.g. http://127.0.0.1:8080/scep/scep. */
  constructor(baseUrl: string) {
    this.#base = baseUrl.replace(/\/+$/, "");
  }

  async getCaCaps(): Promise<string[]> {
    const r = await fetch(`${this.#base}?operation=GetCACaps`);
    const text = await r.text();
    if (r.status !== 200) throw new Error(`GetCACaps: HTTP ${r.status}: ${text.trim()}`);
    return text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
  }

  /** The RA certificate (which requests are encrypted to) and the CA certificates after it. Cached
   * for the messages this client builds; calling it again refreshes the cache. */
  getCaCert(): Promise<{ ra: Buffer; ca: Buffer[] }> {
    const p = fetchCaCert(this.#base);
    this.#caCert = p;
    p.catch(() => {
      if (this.#caCert === p) this.#caCert = null;
    });
    return p;
  }

  #caCerts(): Promise<{ ra: Buffer; ca: Buffer[] }> {
    return this.#caCert ?? this.getCaCert();
  }

  /** A pkiMessage of `kind` carrying `content`, encrypted to the RA certificate and signed by `opts.signer`. */
  async buildMessage(kind: PkiOperationKind, opts: OperationOptions): Promise<BuiltMessage> {
    const { ra } = await this.#caCerts();
    const transactionId = opts.transactionId ?? randomBytes(16).toString("hex");
    const senderNonce = opts.senderNonce ?? randomBytes(16);
    const envelope = buildEnvelopedData(opts.content, ra, opts.cipher ?? "aes-256-cbc");
    const raw = buildSignedData({
      content: envelope,
      certificates: [opts.signer.certDer],
      signer: {
        certDer: opts.signer.certDer,
        key: opts.signer.key,
        digest: opts.digest ?? "sha256",
        attributes: [
          attribute(SCEP_OIDS.messageType, printableString(String(MESSAGE_TYPE[kind]))),
          attribute(SCEP_OIDS.transactionID, printableString(transactionId)),
          attribute(SCEP_OIDS.senderNonce, octetString(senderNonce)),
        ],
      },
    });
    return { transactionId, senderNonce, raw };
  }

  /** Builds, sends and reads one PKIOperation. */
  async pkiOperation(kind: PkiOperationKind, opts: OperationOptions): Promise<ScepResponse> {
    const request = await this.buildMessage(kind, opts);
    const answer = await this.send(request.raw, opts.method ?? "POST", { key: opts.signer.key, recipientCertDer: opts.signer.certDer, senderNonce: request.senderNonce });
    return { ...answer, request };
  }

  /** PKCSReq (or RenewalReq): a CSR for `opts.key`, signed by the key itself through a self-signed
   * certificate unless `opts.signer` says otherwise. */
  async enrol(opts: EnrolOptions): Promise<EnrolResponse> {
    const key = opts.key ?? generateRsaKey();
    const csrDer =
      opts.csrDer ??
      buildCsr({
        privateKey: key.privateKey,
        publicKey: key.publicKey,
        keyAlgorithm: signingAlgorithmOf(key.privateKey),
        subject: [{ type: "CN", value: opts.commonName }],
        ...(opts.dns?.length ? { sans: { dns: opts.dns } } : {}),
        ...(opts.challenge !== undefined ? { challengePassword: opts.challenge } : {}),
      });
    const signer = opts.signer ?? { certDer: selfSignedCertificate(key, opts.commonName), key: key.privateKey };
    const r = await this.pkiOperation(opts.messageType ?? "PKCSReq", {
      content: csrDer,
      signer,
      transactionId: opts.transactionId ?? defaultTransactionId(key.publicKey),
      ...pick(opts),
    });
    return { ...r, key, signer, csrDer };
  }

  /** RenewalReq: `opts.signer` is the certificate being renewed and its key. */
  renew(opts: EnrolOptions & { signer: ScepSigner }): Promise<EnrolResponse> {
    return this.enrol({ ...opts, messageType: "RenewalReq" });
  }

  /** CertPoll (GetCertInitial): asks again about a PENDING transaction. */
  async poll(opts: PollOptions): Promise<ScepResponse> {
    const { ra, ca } = await this.#caCerts();
    const issuerDer = opts.issuerDer ?? parseCertificate(ca[0] ?? ra).subjectDer;
    const subjectDer = opts.subjectDer ?? (opts.commonName !== undefined ? encodeName([{ type: "CN", value: opts.commonName }]) : parseCertificate(opts.signer.certDer).subjectDer);
    return this.pkiOperation("CertPoll", { ...opts, content: seq(issuerDer, subjectDer) });
  }

  /** GetCert: a certificate by issuer and serial number. */
  getCert(issuerDer: Buffer, serialHex: string, signer: ScepSigner, opts: Omit<MessageOptions, "signer"> = {}): Promise<ScepResponse> {
    return this.pkiOperation("GetCert", { ...opts, signer, content: issuerAndSerialNumber(issuerDer, serialHex) });
  }

  /** GetCRL: the CRL of the issuer of the certificate named by issuer and serial number. */
  getCrl(issuerDer: Buffer, serialHex: string, signer: ScepSigner, opts: Omit<MessageOptions, "signer"> = {}): Promise<ScepResponse> {
    return this.pkiOperation("GetCRL", { ...opts, signer, content: issuerAndSerialNumber(issuerDer, serialHex) });
  }

  /**
   * Sends `raw` as a PKIOperation and reads whatever comes back. A CertRep is parsed (its signature
   * must verify: a bad one throws); a SUCCESS envelope is decrypted when `expect.key` is given.
   * Anything else (a 4xx with text) is returned with only the HTTP fields.
   */
  async send(raw: Buffer, method: HttpMethod = "POST", expect: { key?: KeyObject; recipientCertDer?: Buffer; senderNonce?: Buffer } = {}): Promise<ScepAnswer> {
    const r =
      method === "POST"
        ? await fetch(`${this.#base}?operation=PKIOperation`, { method: "POST", headers: { "content-type": PKI_MESSAGE }, body: new Uint8Array(raw) })
        : await fetch(`${this.#base}?operation=PKIOperation&message=${encodeURIComponent(raw.toString("base64"))}`);
    const body = Buffer.from(await r.arrayBuffer());
    const contentType = r.headers.get("content-type") ?? "";
    const answer: ScepAnswer = { httpStatus: r.status, contentType, raw: body };
    if (r.status !== 200 || !contentType.startsWith(PKI_MESSAGE)) return answer;
    return { ...answer, ...(await this.#readCertRep(body, expect)) };
  }

  async #readCertRep(body: Buffer, expect: { key?: KeyObject; recipientCertDer?: Buffer; senderNonce?: Buffer }): Promise<Partial<ScepAnswer>> {
    const sd = parseSignedData(toDer(body));
    if (sd.signerInfos.length !== 1) throw new Error(`CertRep: ${sd.signerInfos.length} signers, expected 1`);
    const si = sd.signerInfos[0]!;
    const signer = signerCertificate(sd, si);
    // SHA-1 is allowed here: what the server may sign with is for the tests to judge, not the client.
    verifySignerInfo(sd, si, createPublicKey({ key: signer.info.spki, format: "der", type: "spki" }), true);
    const text = (oid: string): string | undefined => {
      const a = si.attributes.get(oid);
      return a ? decodeString(a.value, oid, "bad_scep_message") : undefined;
    };
    const octets = (oid: string): Buffer | undefined => {
      const a = si.attributes.get(oid);
      return a && a.value.tag === TAG.OCTET_STRING ? Buffer.from(a.value.content) : undefined;
    };
    const type = text(SCEP_OIDS.messageType);
    if (type !== String(MESSAGE_TYPE.CertRep)) throw new Error(`CertRep: messageType ${JSON.stringify(type)}, expected "3"`);
    const statusText = text(SCEP_OIDS.pkiStatus);
    const status = statusText === undefined ? undefined : PKI_STATUS.get(statusText as "0");
    if (!status) throw new Error(`CertRep: pkiStatus ${JSON.stringify(statusText)} is not one RFC 8894 defines`);
    const failText = text(SCEP_OIDS.failInfo);
    const recipientNonce = octets(SCEP_OIDS.recipientNonce);
    const { ra } = await this.#caCerts();
    const out: Partial<ScepAnswer> = {
      status,
      signerCertDer: signer.der,
      signedByRa: ra.equals(signer.der),
      ...(failText !== undefined ? { failInfo: FAIL_INFO[Number(failText)] ?? failText } : {}),
      ...(si.attributes.has(SCEP_OIDS.transactionID) ? { transactionId: text(SCEP_OIDS.transactionID)! } : {}),
      ...(expect.senderNonce ? { recipientNonceMatches: recipientNonce !== undefined && recipientNonce.equals(expect.senderNonce) } : {}),
    };
    if (status === "SUCCESS" && expect.key && expect.recipientCertDer) {
      const inner = decryptAnswer(sd, expect.key, expect.recipientCertDer);
      out.certificates = inner.certificates;
      out.crls = inner.crls;
    }
    return out;
  }
}

/** The CertRep's envelope, decrypted with the requester's key, as the degenerate SignedData it holds. */
function decryptAnswer(sd: ParsedSignedData, key: KeyObject, recipientCertDer: Buffer): ParsedSignedData {
  if (!sd.content) throw new Error("CertRep SUCCESS without a pkcsPKIEnvelope");
  const env = parseEnvelopedData(toDer(sd.content));
  const entry = recipientFor(env, parseCertificate(recipientCertDer));
  if (!entry) throw new Error("CertRep SUCCESS: the envelope is not encrypted to the request's signer certificate");
  // Implicit rejection needs a secret; a client has no use for it beyond satisfying the signature.
  const plain = decryptEnvelope(env, entry, { key, rejectionSecret: randomBytes(32) });
  return parseSignedData(toDer(plain));
}

async function fetchCaCert(base: string): Promise<{ ra: Buffer; ca: Buffer[] }> {
  const r = await fetch(`${base}?operation=GetCACert`);
  const body = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200) throw new Error(`GetCACert: HTTP ${r.status}: ${body.toString("utf8").trim()}`);
  const type = r.headers.get("content-type") ?? "";
  // RFC 8894 §4.2.1: a bare certificate when the CA answers itself, a degenerate SignedData with an RA.
  if (type.startsWith("application/x-x509-ca-cert")) return { ra: body, ca: [body] };
  if (!type.startsWith("application/x-x509-ca-ra-cert")) throw new Error(`GetCACert: unexpected content type ${JSON.stringify(type)}`);
  const sd = parseSignedData(toDer(body));
  const [ra, ...ca] = sd.certificates;
  if (!ra) throw new Error("GetCACert: the degenerate SignedData carries no certificate");
  return { ra, ca };
}

function pick(o: MessageOptions | EnrolOptions): Omit<MessageOptions, "signer" | "transactionId"> {
  return { ...(o.cipher ? { cipher: o.cipher } : {}), ...(o.digest ? { digest: o.digest } : {}), ...(o.method ? { method: o.method } : {}) };
}

/** IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER } (GetCert, GetCRL). */
export function issuerAndSerialNumber(issuerDer: Buffer, serialHex: string): Buffer {
  return seq(issuerDer, integer(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, "hex")));
}

/** micromdm's transactionID: base64 of the SHA-1 of the subjectPublicKey bits. */
export function defaultTransactionId(publicKey: KeyObject): string {
  return subjectKeyIdentifier(publicKey.export({ format: "der", type: "spki" })).toString("base64");
}

export function generateRsaKey(bits = 2048): KeyPair {
  return generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: 65537 });
}

/** The KeyAlgorithm whose signature algorithm suits `key`; any RSA size signs with SHA-256. */
function signingAlgorithmOf(key: KeyObject): KeyAlgorithm {
  if (key.asymmetricKeyType === "ed25519") return "Ed25519";
  if (key.asymmetricKeyType === "ec") return key.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "P-384" : "P-256";
  return "RSA-2048";
}

/** A minimal self-signed certificate (CN=commonName, no extensions) for a requester's key, as SCEP
 * clients make to sign their first request. */
export function selfSignedCertificate(key: KeyPair, commonName: string, lifetimeSeconds = 86_400): Buffer {
  const alg = signatureAlgorithmFor(signingAlgorithmOf(key.privateKey));
  const name = encodeName([{ type: "CN", value: commonName }]);
  const now = Date.now();
  const serial = randomBytes(16);
  const tbs = buildTbsCertificate({
    serial,
    signatureAlgorithm: alg.algorithmIdentifier,
    issuerNameDer: name,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + lifetimeSeconds * 1000),
    subjectNameDer: name,
    spki: key.publicKey.export({ format: "der", type: "spki" }),
    extensions: [],
  });
  return assembleCertificate(tbs, alg.algorithmIdentifier, sign(alg.hash, tbs, key.privateKey));
}

