# ---- Signet

variable "signet_url" {
  description = "Base URL of Signet's HTTPS port, e.g. https://signet.example.internal:8443."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+", var.signet_url))
    error_message = "signet_url must be an https:// URL (Signet's HTTPS port, 8443 by default)."
  }
}

variable "signet_root_ca_file" {
  description = "Signet's root certificate (PEM): $SIGNET_HOME/ca/root.pem, or http://HOST:8080/roots.pem checked against its SHA-256 fingerprint."
  type        = string
}

variable "signet_admin_token" {
  description = "Admin API token that creates the join token. It ends up in state (the request's headers): use a short-lived one per run. Not needed with join_token, or with attest = false."
  type        = string
  default     = ""
  sensitive   = true
}

variable "join_token" {
  description = "A join token minted outside Terraform (signet token join --provisioner attest --claim ... --json); then no admin token is needed."
  type        = string
  default     = null
  sensitive   = true
}

variable "attestation_provisioner" {
  description = "Attestation provisioner: POST /attest/{this}. \"attest\" on a zero-config start (join tokens)."
  type        = string
  default     = "attest"
}

variable "acme_provisioner" {
  description = "The ACME provisioner the attestation provisioner hands EAB keys out for (its options.acmeProvisioner; it requires EAB)."
  type        = string
  default     = "acme-attested"
}

variable "attest" {
  description = "Mint a join token and attest during this run. Needed for the first apply; set false once the certificate exists (renewal needs no attestation, and every plan with true mints and spends a new join token)."
  type        = bool
  default     = true
}

# ---- Join token claims: what this run may become (the posture policy reads them)

variable "identity" {
  description = "Claim identity. The zero-config policy makes it spiffe://{trustDomain}/{identity}: letters, digits, '.', '_', '-'."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,128}$", var.identity))
    error_message = "identity must be 1-128 characters of A-Z a-z 0-9 . _ - (a SPIFFE ID path segment)."
  }
}

variable "node_id" {
  description = "Claim nodeId: the machine, for `signet revoke --node` and node blocks. Optional."
  type        = string
  default     = null
}

variable "dns_names" {
  description = "Claim dns: the names the certificate may carry. The first is the common name."
  type        = list(string)

  validation {
    condition     = length(var.dns_names) > 0
    error_message = "dns_names needs at least one name."
  }
}

variable "join_token_ttl_seconds" {
  description = "How long the join token stays usable (60-604800). It is spent within seconds, in the same run."
  type        = number
  default     = 600

  validation {
    condition     = var.join_token_ttl_seconds >= 60 && var.join_token_ttl_seconds <= 604800
    error_message = "join_token_ttl_seconds must be 60-604800."
  }
}

# ---- ACME

variable "contact_email" {
  description = "Contact address recorded on the ACME account."
  type        = string
}

variable "http01_port" {
  description = "Port the provider's http-01 server listens on, on the machine running Terraform (Signet's validator connects to SIGNET_ACME_HTTP01_PORT, 80 by default)."
  type        = number
  default     = 80
}

variable "output_dir" {
  description = "If set, write NAME.key (0600) and NAME.fullchain.pem here."
  type        = string
  default     = null
}
