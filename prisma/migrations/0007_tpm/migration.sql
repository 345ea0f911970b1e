-- TPM 2.0 devices: credential activations in flight (the secret stored as SHA-256), and the devices
-- whose attestation keys Signet certified after activation, by the AK certificate's serial.

-- CreateTable
CREATE TABLE "tpm_activations" (
    "id" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "permanent_id" TEXT NOT NULL,
    "ek_issuer" TEXT NOT NULL,
    "claims" JSONB NOT NULL,
    "ak_spki" BYTEA NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "tpm_activations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tpm_devices" (
    "ak_serial" TEXT NOT NULL,
    "provisioner_id" TEXT NOT NULL,
    "permanent_id" TEXT NOT NULL,
    "ek_issuer" TEXT NOT NULL,
    "claims" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tpm_devices_pkey" PRIMARY KEY ("ak_serial")
);

-- CreateIndex
CREATE INDEX "tpm_activations_expires_at_idx" ON "tpm_activations"("expires_at");

-- CreateIndex
CREATE INDEX "tpm_devices_permanent_id_idx" ON "tpm_devices"("permanent_id");
