-- Posture attestation: credentials handed out for a decision carry it (EAB keys), join tokens
-- (stored hashed), and the single-use identifiers of accepted evidence (jti, token ids).

-- AlterTable
ALTER TABLE "acme_eab_keys" ADD COLUMN "binding" JSONB;

-- CreateTable
CREATE TABLE "attestation_join_tokens" (
    "id" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "claims" JSONB NOT NULL,
    "note" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "attestation_join_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "attestation_used_ids" (
    "id" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "attestation_used_ids_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "attestation_join_tokens_secret_hash_key" ON "attestation_join_tokens"("secret_hash");

-- CreateIndex
CREATE INDEX "attestation_used_ids_expires_at_idx" ON "attestation_used_ids"("expires_at");

-- CreateTable
CREATE TABLE "attestation_lineage" (
    "serial" TEXT NOT NULL,
    "first_not_before" TIMESTAMPTZ(3) NOT NULL,
    "renewals" INTEGER NOT NULL,
    "parent_serial" TEXT,

    CONSTRAINT "attestation_lineage_pkey" PRIMARY KEY ("serial")
);

-- CreateTable
CREATE TABLE "attestation_renewals" (
    "parent_serial" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "attestation_renewals_pkey" PRIMARY KEY ("parent_serial")
);
