-- SCEP (RFC 8894): transactions (replays answer from here), one-time challenges (stored hashed), and
-- the RA credential every replica shares (its RSA key encrypted under a key derived from the
-- intermediate CA key).

-- CreateTable
CREATE TABLE "scep_transactions" (
    "id" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "transaction_id" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "key_fingerprint" TEXT NOT NULL,
    "message_type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "fail_info" TEXT,
    "reason" TEXT,
    "csr" BYTEA NOT NULL,
    "subject" TEXT NOT NULL,
    "names" JSONB NOT NULL,
    "auth" JSONB NOT NULL,
    "certificate_serial" TEXT,
    "decided_by" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "scep_transactions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "scep_challenges" (
    "id" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "binding" JSONB NOT NULL,
    "note" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "used_by" TEXT,

    CONSTRAINT "scep_challenges_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "scep_ra_keys" (
    "id" TEXT NOT NULL,
    "cert_der" BYTEA NOT NULL,
    "key_ciphertext" BYTEA NOT NULL,
    "not_after" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "scep_ra_keys_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "scep_transactions_provisioner_id_transaction_id_request_hash_key" ON "scep_transactions"("provisioner_id", "transaction_id", "request_hash");

-- CreateIndex
CREATE INDEX "scep_transactions_status_created_at_idx" ON "scep_transactions"("status", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "scep_challenges_secret_hash_key" ON "scep_challenges"("secret_hash");
