-- AlterTable
ALTER TABLE "certificates" ADD COLUMN     "account_id" TEXT,
ADD COLUMN     "invalidity_date" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "enrolment_blocks" (
    "kind" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "enrolment_blocks_pkey" PRIMARY KEY ("kind","value")
);

-- CreateIndex
CREATE INDEX "certificates_account_id_idx" ON "certificates"("account_id");

-- CreateIndex
CREATE INDEX "audit_events_event_seq_idx" ON "audit_events"("event", "seq");

-- Hand-written (Prisma cannot express a partial index): the revoked, per-issuer rows CRL generation
-- reads. The predicate is on revoked_at, which completing an intent never changes, so that update
-- stays HOT.
CREATE INDEX "certificates_revoked_idx" ON "certificates"("issuer_id", "not_after") WHERE "revoked_at" IS NOT NULL;
