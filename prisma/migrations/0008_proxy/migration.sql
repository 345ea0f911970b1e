-- The inference proxy: partner access tokens (hashed), routes defined through the admin API, and
-- the per-minute usage proxies report.
-- CreateTable
CREATE TABLE "proxy_tokens" (
    "id" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "routes" JSONB NOT NULL,
    "tenant" TEXT,
    "note" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "proxy_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "proxy_routes" (
    "name" TEXT NOT NULL,
    "definition" JSONB NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),

    CONSTRAINT "proxy_routes_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "proxy_usage" (
    "minute" TIMESTAMPTZ(3) NOT NULL,
    "route" TEXT NOT NULL,
    "caller" TEXT NOT NULL,
    "requests" INTEGER NOT NULL,
    "tokens" INTEGER NOT NULL,
    "errors" INTEGER NOT NULL,

    CONSTRAINT "proxy_usage_pkey" PRIMARY KEY ("minute","route","caller")
);

-- CreateIndex
CREATE UNIQUE INDEX "proxy_tokens_secret_hash_key" ON "proxy_tokens"("secret_hash");

-- CreateIndex
CREATE INDEX "proxy_usage_minute_idx" ON "proxy_usage"("minute");

