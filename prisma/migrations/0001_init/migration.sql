-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "CertificateStatus" AS ENUM ('pending', 'valid', 'revoked', 'failed');

-- CreateEnum
CREATE TYPE "ProvisionerType" AS ENUM ('admin', 'acme', 'scep', 'attestation');

-- CreateTable
CREATE TABLE "certificate_authorities" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "parent_id" TEXT,
    "der" BYTEA NOT NULL,
    "not_before" TIMESTAMPTZ(3) NOT NULL,
    "not_after" TIMESTAMPTZ(3) NOT NULL,
    "key_algorithm" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "certificate_authorities_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "certificates" (
    "serial" TEXT NOT NULL,
    "issuer_id" TEXT NOT NULL,
    "status" "CertificateStatus" NOT NULL,
    "subject" TEXT NOT NULL,
    "common_name" TEXT,
    "dns_names" TEXT[],
    "ip_addresses" TEXT[],
    "uris" TEXT[],
    "emails" TEXT[],
    "spiffe_id" TEXT,
    "roles" TEXT[],
    "profile" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "provisioner_name" TEXT NOT NULL,
    "identity" TEXT,
    "node_id" TEXT,
    "not_before" TIMESTAMPTZ(3) NOT NULL,
    "not_after" TIMESTAMPTZ(3) NOT NULL,
    "key_algorithm" TEXT NOT NULL,
    "subject_key_id" TEXT NOT NULL,
    "fingerprint" TEXT,
    "der" BYTEA,
    "requested_by" TEXT NOT NULL,
    "failure" TEXT,
    "revoked_at" TIMESTAMPTZ(3),
    "revocation_reason" INTEGER,
    "revoked_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "certificates_pkey" PRIMARY KEY ("serial")
);

-- CreateTable
CREATE TABLE "provisioners" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" "ProvisionerType" NOT NULL,
    "profile" TEXT NOT NULL,
    "default_lifetime_seconds" INTEGER NOT NULL,
    "max_lifetime_seconds" INTEGER NOT NULL,
    "policy" JSONB NOT NULL,
    "options" JSONB NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "provisioners_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "settings" (
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "settings_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "admin_tokens" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "admin_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "seq" BIGINT NOT NULL,
    "time" TIMESTAMPTZ(3) NOT NULL,
    "event" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "target" TEXT,
    "data" JSONB NOT NULL,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "audit_head" (
    "id" INTEGER NOT NULL,
    "seq" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_head_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "certificates_not_after_idx" ON "certificates"("not_after");

-- CreateIndex
CREATE INDEX "certificates_identity_idx" ON "certificates"("identity");

-- CreateIndex
CREATE INDEX "certificates_node_id_idx" ON "certificates"("node_id");

-- CreateIndex
CREATE INDEX "certificates_spiffe_id_idx" ON "certificates"("spiffe_id");

-- CreateIndex
CREATE INDEX "certificates_provisioner_name_created_at_idx" ON "certificates"("provisioner_name", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "provisioners_name_key" ON "provisioners"("name");

-- CreateIndex
CREATE UNIQUE INDEX "admin_tokens_token_hash_key" ON "admin_tokens"("token_hash");

-- CreateIndex
CREATE INDEX "audit_events_event_time_idx" ON "audit_events"("event", "time");

-- CreateIndex
CREATE INDEX "audit_events_target_idx" ON "audit_events"("target");


-- Room on each page for the pending → valid update to stay on the page (HOT): no index entry is rewritten.
ALTER TABLE "certificates" SET (fillfactor = 70);

-- The audit chain starts from the genesis hash (ca/audit.ts GENESIS_HASH).
INSERT INTO "audit_head" ("id", "seq", "hash") VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
