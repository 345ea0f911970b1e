// The admin API routes, mounted at /admin/v1 inside the scope that authenticates (https-app.ts).
import type { FastifyInstance } from "fastify";
import type { Services } from "../../services.js";
import { createAdminToken, listAdminTokens, revokeAdminToken } from "./routes/admin-tokens.js";
import { listAuditEvents, verifyAudit } from "./routes/audit.js";
import { caInfo } from "./routes/ca-info.js";
import { getCertificate } from "./routes/get-certificate.js";
import { issueCertificate } from "./routes/issue-certificate.js";
import { listCertificates } from "./routes/list-certificates.js";
import { getAuthorityPolicy, getProvisionerPolicy, putAuthorityPolicy, putProvisionerPolicy } from "./routes/policies.js";
import { deleteProvisioner, getProvisioner, listProvisioners, putProvisioner } from "./routes/provisioners.js";
import { revokeCertificate } from "./routes/revoke-certificate.js";
import { revokeBulk } from "./routes/revoke-bulk.js";
import { deleteBlock, listBlocks } from "./routes/blocks.js";
import { createEab, listEab, revokeEab } from "./routes/acme-eab.js";
import { createJoinToken, testPolicy } from "./routes/attestation.js";
import { proxyRoutes } from "./routes/proxy.js";
import { approveScepRequest, createScepChallenge, listScepChallenges, listScepRequests, rejectScepRequest } from "./routes/scep.js";

const ROUTES = [
  issueCertificate,
  getCertificate,
  listCertificates,
  revokeCertificate,
  revokeBulk,
  listBlocks,
  deleteBlock,
  listProvisioners,
  getProvisioner,
  putProvisioner,
  deleteProvisioner,
  getAuthorityPolicy,
  putAuthorityPolicy,
  getProvisionerPolicy,
  putProvisionerPolicy,
  listAuditEvents,
  verifyAudit,
  createAdminToken,
  listAdminTokens,
  revokeAdminToken,
  caInfo,
  createEab,
  createJoinToken,
  testPolicy,
  listEab,
  revokeEab,
  createScepChallenge,
  listScepChallenges,
  listScepRequests,
  approveScepRequest,
  rejectScepRequest,
  proxyRoutes,
];

export function adminApi(s: Services) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    for (const route of ROUTES) route(app, s);
  };
}
