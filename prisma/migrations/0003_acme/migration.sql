-- CreateTable
CREATE TABLE "acme_accounts" (
    "id" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "thumbprint" TEXT NOT NULL,
    "jwk" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "contact" TEXT[],
    "terms_agreed" BOOLEAN NOT NULL DEFAULT false,
    "eab_kid" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "acme_accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "acme_orders" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "identifiers" JSONB NOT NULL,
    "authz_ids" TEXT[],
    "not_before" TIMESTAMPTZ(3),
    "not_after" TIMESTAMPTZ(3),
    "profile" TEXT,
    "expires" TIMESTAMPTZ(3) NOT NULL,
    "error" JSONB,
    "certificate_serial" TEXT,
    "replaces" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "acme_orders_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "acme_authorizations" (
    "id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "identifier_type" TEXT NOT NULL,
    "identifier_value" TEXT NOT NULL,
    "wildcard" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT NOT NULL,
    "expires" TIMESTAMPTZ(3) NOT NULL,
    "challenges" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "acme_authorizations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "acme_used_nonces" (
    "nonce" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "acme_used_nonces_pkey" PRIMARY KEY ("nonce")
);

-- CreateTable
CREATE TABLE "acme_eab_keys" (
    "kid" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "key_ciphertext" BYTEA NOT NULL,
    "single_use" BOOLEAN NOT NULL DEFAULT true,
    "note" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),
    "used_at" TIMESTAMPTZ(3),
    "account_id" TEXT,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "acme_eab_keys_pkey" PRIMARY KEY ("kid")
);

-- CreateIndex
CREATE UNIQUE INDEX "acme_accounts_provisioner_id_thumbprint_key" ON "acme_accounts"("provisioner_id", "thumbprint");

-- CreateIndex
CREATE INDEX "acme_orders_account_id_created_at_idx" ON "acme_orders"("account_id", "created_at");

-- CreateIndex
CREATE INDEX "acme_orders_replaces_idx" ON "acme_orders"("replaces");

-- CreateIndex
CREATE INDEX "acme_authorizations_order_id_idx" ON "acme_authorizations"("order_id");

-- CreateIndex
CREATE INDEX "acme_authorizations_account_id_status_updated_at_idx" ON "acme_authorizations"("account_id", "status", "updated_at");

-- CreateIndex
CREATE INDEX "acme_used_nonces_expires_at_idx" ON "acme_used_nonces"("expires_at");

