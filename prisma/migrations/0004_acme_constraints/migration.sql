-- Hand-written (Prisma cannot express partial indexes).

-- RFC 9773: a certificate is replaced by at most one order that has not failed. Enforced here, so
-- two concurrent newOrders with the same `replaces` cannot both succeed.
CREATE UNIQUE INDEX "acme_orders_replaces_live_key" ON "acme_orders"("replaces") WHERE "replaces" IS NOT NULL AND "status" <> 'invalid';

-- The sweep for validations abandoned by a stopped replica reads pending authorizations only.
CREATE INDEX "acme_authorizations_pending_idx" ON "acme_authorizations"("updated_at") WHERE "status" = 'pending';

-- Retention: expired orders and authorizations are deleted by expiry.
CREATE INDEX "acme_orders_expires_idx" ON "acme_orders"("expires");
CREATE INDEX "acme_authorizations_expires_idx" ON "acme_authorizations"("expires");
