// POST /admin/v1/scep/challenges                — create a one-time challengePassword (signet scep
//                                                 challenge); the secret is in this response and
//                                                 nowhere else, ever (it is stored hashed).
// GET  /admin/v1/scep/challenges                — list challenges (never the secret or its hash).
// GET  /admin/v1/scep/requests                  — list enrolment requests, by default those awaiting
//                                                 an operator (manualApproval).
// POST /admin/v1/scep/requests/{id}/approve     — issue the pending request's certificate; the
//                                                 client receives it at its next CertPoll.
// POST /admin/v1/scep/requests/{id}/reject      — refuse it; the client's next CertPoll gets FAILURE.
import type { FastifyInstance } from "fastify";
import { SignetError } from "../../../../ca/errors.js";
import type { ProvisionerRecord } from "../../../../ca/ports.js";
import type { ChallengeRecord, ScepTransactionRecord, TransactionStatus } from "../../../../scep/index.js";
import type { Services } from "../../../services.js";
import { provisionerNames, provisionerOfType } from "../provisioner-lookup.js";
import { errorResponses } from "../schemas.js";

const strings = { type: "array", items: { type: "string" } } as const;
const nullableString = { type: ["string", "null"] } as const;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const bindingSchema = {
  type: "object",
  description: "what an enrolment with this challenge may hold and carries",
  properties: {
    commonName: { type: "string" },
    dns: strings,
    ip: strings,
    identity: { type: "string" },
    nodeId: { type: "string" },
    roles: strings,
  },
} as const;

const challengeSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    provisioner: { type: "string" },
    state: { type: "string", enum: ["usable", "used", "expired"] },
    binding: bindingSchema,
    note: nullableString,
    createdBy: { type: "string" },
    createdAt: { type: "string" },
    expiresAt: { type: "string" },
    usedAt: nullableString,
  },
} as const;

const STATUSES: TransactionStatus[] = ["pending", "success", "failure", "processing"];

const requestSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    provisioner: { type: "string" },
    transactionId: { type: "string" },
    messageType: { type: "string" },
    status: { type: "string", enum: STATUSES },
    subject: { type: "string" },
    names: { type: "object", properties: { dns: strings, ip: strings } },
    failInfo: nullableString,
    reason: nullableString,
    certificateSerial: nullableString,
    decidedBy: nullableString,
    decidedAt: nullableString,
    createdAt: { type: "string" },
  },
} as const;

const idParams = { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 64 } } } as const;
const limitQuery = { type: "integer", minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } as const;

const scepProvisioner = (s: Services, name: string): Promise<ProvisionerRecord> =>
  provisionerOfType(s, name, "scep", "SCEP challenges and requests belong to SCEP provisioners");

function describeChallenge(c: ChallengeRecord, provisionerName: string, now = new Date()) {
  return {
    id: c.id,
    provisioner: provisionerName,
    state: c.usedAt ? "used" : c.expiresAt <= now ? "expired" : "usable",
    binding: c.binding,
    note: c.note,
    createdBy: c.createdBy,
    createdAt: c.createdAt.toISOString(),
    expiresAt: c.expiresAt.toISOString(),
    usedAt: c.usedAt?.toISOString() ?? null,
  };
}

/** A request as the operator sees it: never its CSR bytes nor how it was authorised. */
function describeRequest(t: ScepTransactionRecord, provisionerName: string) {
  return {
    id: t.id,
    provisioner: provisionerName,
    transactionId: t.transactionId,
    messageType: t.messageType,
    status: t.status,
    subject: t.subject,
    names: t.names,
    failInfo: t.failInfo,
    reason: t.reason,
    certificateSerial: t.certificateSerial,
    decidedBy: t.decidedBy,
    decidedAt: t.decidedAt?.toISOString() ?? null,
    createdAt: t.createdAt.toISOString(),
  };
}

/** An approved or rejected request, named after its provisioner. */
async function describeDecided(s: Services, t: ScepTransactionRecord) {
  return describeRequest(t, (await provisionerNames(s)).get(t.provisionerId) ?? t.provisionerId);
}

interface ChallengeBody {
  provisioner: string;
  ttlSeconds?: number;
  commonName?: string;
  dns?: string[];
  ip?: string[];
  identity?: string;
  nodeId?: string;
  roles?: string[];
  note?: string;
}

export function createScepChallenge(app: FastifyInstance, s: Services): void {
  app.post<{ Body: ChallengeBody }>(
    "/scep/challenges",
    {
      schema: {
        summary: "Create a one-time SCEP challengePassword (shown once)",
        tags: ["scep"],
        body: {
          type: "object",
          required: ["provisioner"],
          additionalProperties: false,
          properties: {
            provisioner: { type: "string", minLength: 1, maxLength: 63 },
            ttlSeconds: { type: "integer", minimum: 60, maximum: 2592000, default: 3600, description: "expires after this long" },
            commonName: { type: "string", minLength: 1, maxLength: 64, description: "the only common name the enrolment may ask for" },
            dns: { type: "array", maxItems: 100, items: { type: "string", minLength: 1, maxLength: 253 }, description: "the DNS names it may ask for" },
            ip: { type: "array", maxItems: 100, items: { type: "string", minLength: 1, maxLength: 64 }, description: "the IP addresses it may ask for" },
            identity: { type: "string", minLength: 1, description: "identity recorded on the certificate" },
            nodeId: { type: "string", minLength: 1, description: "node the certificate is issued to" },
            roles: { type: "array", items: { type: "string" }, description: "roles the certificate carries" },
            note: { type: "string", maxLength: 512 },
          },
        },
        response: {
          201: {
            type: "object",
            properties: {
              id: { type: "string" },
              challenge: { type: "string", description: "the challengePassword; shown once" },
              provisioner: { type: "string" },
              expiresAt: { type: "string" },
              binding: bindingSchema,
              url: { type: "string", description: "the provisioner's SCEP URL" },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const p = await scepProvisioner(s, req.body.provisioner);
      const { provisioner: _p, ttlSeconds, note, ...binding } = req.body;
      const created = await s.scep.service.createChallenge(p, { ttlSeconds: ttlSeconds ?? 3600, binding, note }, req.admin!.actor);
      return reply.code(201).send({
        id: created.id,
        challenge: created.challenge,
        provisioner: p.name,
        expiresAt: created.expiresAt.toISOString(),
        binding: created.binding,
        url: `${s.config.httpUrl}/scep/${p.name}`,
      });
    },
  );
}

export function listScepChallenges(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: { provisioner?: string; limit?: number } }>(
    "/scep/challenges",
    {
      schema: {
        summary: "List one-time SCEP challenges, newest first (never the secrets)",
        tags: ["scep"],
        querystring: { type: "object", additionalProperties: false, properties: { provisioner: { type: "string", maxLength: 63 }, limit: limitQuery } },
        response: { 200: { type: "object", properties: { items: { type: "array", items: challengeSchema } } }, ...errorResponses },
      },
    },
    async (req) => {
      const p = req.query.provisioner ? await scepProvisioner(s, req.query.provisioner) : null;
      const names = await provisionerNames(s);
      const items = await s.scep.store.listChallenges(p?.id ?? null, req.query.limit ?? DEFAULT_LIMIT);
      const now = new Date();
      return { items: items.map((c) => describeChallenge(c, names.get(c.provisionerId) ?? c.provisionerId, now)) };
    },
  );
}

export function listScepRequests(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: { status?: TransactionStatus; provisioner?: string; limit?: number } }>(
    "/scep/requests",
    {
      schema: {
        summary: "List SCEP enrolment requests, oldest first (default: those awaiting approval)",
        tags: ["scep"],
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { status: { type: "string", enum: STATUSES, default: "pending" }, provisioner: { type: "string", maxLength: 63 }, limit: limitQuery },
        },
        response: { 200: { type: "object", properties: { items: { type: "array", items: requestSchema } } }, ...errorResponses },
      },
    },
    async (req) => {
      const p = req.query.provisioner ? await scepProvisioner(s, req.query.provisioner) : null;
      const names = await provisionerNames(s);
      const items = await s.scep.store.listTransactions({ status: req.query.status ?? "pending", ...(p ? { provisionerId: p.id } : {}) }, req.query.limit ?? DEFAULT_LIMIT);
      return { items: items.map((t) => describeRequest(t, names.get(t.provisionerId) ?? t.provisionerId)) };
    },
  );
}

export function approveScepRequest(app: FastifyInstance, s: Services): void {
  app.post<{ Params: { id: string } }>(
    "/scep/requests/:id/approve",
    {
      schema: {
        summary: "Approve a pending SCEP request: its certificate is issued now",
        tags: ["scep"],
        params: idParams,
        response: { 200: requestSchema, ...errorResponses },
      },
    },
    async (req) => {
      const t = await s.scep.service.approve(req.params.id, req.admin!.actor);
      return describeDecided(s, t);
    },
  );
}

export function rejectScepRequest(app: FastifyInstance, s: Services): void {
  app.post<{ Params: { id: string }; Body: { reason?: string } | null | undefined }>(
    "/scep/requests/:id/reject",
    {
      schema: {
        summary: "Reject a pending SCEP request",
        tags: ["scep"],
        params: idParams,
        body: { type: ["object", "null"], additionalProperties: false, properties: { reason: { type: "string", minLength: 1, maxLength: 512 } } },
        response: { 200: requestSchema, ...errorResponses },
      },
    },
    async (req) => {
      const t = await s.scep.service.reject(req.params.id, req.admin!.actor, req.body?.reason);
      return describeDecided(s, t);
    },
  );
}
