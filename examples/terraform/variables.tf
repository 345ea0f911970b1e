# ---- Signet

variable "signet_url" {
  description = "Base URL of Signet's HTTPS port, e.g. https://signet.internal:8443."
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+", var.signet_url))
    error_message = "signet_url must be an https:// URL (Signet's HTTPS port, 8443 by default)."
  }
}

variable "signet_provisioner" {
  description = "Name of Signet's ACME provisioner (\"acme\" on a zero-config start)."
  type        = string
  default     = "acme"
}

variable "signet_acme_directory" {
  description = "Full ACME directory URL; by default {signet_url}/acme/{signet_provisioner}/directory."
  type        = string
  default     = null
}

# ---- External Account Binding (signet eab create --provisioner acme --json)

variable "eab_kid" {
  description = "EAB key id (`kid`) printed by `signet eab create`."
  type        = string
  sensitive   = true
}

variable "eab_hmac_key" {
  description = "EAB `hmacKey` printed by `signet eab create`, verbatim: base64url (RFC 8555). Do not convert it to standard base64."
  type        = string
  sensitive   = true

  validation {
    # 32 bytes or more (HS256) = 43 or more base64url characters.
    condition     = can(regex("^[A-Za-z0-9_-]{43,}={0,2}$", var.eab_hmac_key))
    error_message = "eab_hmac_key must be the base64url hmacKey exactly as Signet prints it (A-Z a-z 0-9 - _, at least 43 characters)."
  }
}

variable "contact_email" {
  description = "Contact address recorded on the ACME account."
  type        = string
}

# ---- Certificate

variable "common_name" {
  description = "Common name, also the first DNS name of the certificate."
  type        = string
}

variable "subject_alternative_names" {
  description = "Further DNS names. The common name is added if missing."
  type        = list(string)
  default     = []
}

variable "use_external_csr" {
  description = "true: make the P-256 key and CSR with the tls provider and send certificate_request_pem; false: let the ACME provider make them (common_name + key_type = \"P256\")."
  type        = bool
  default     = false
}

# ---- Renewal

variable "use_renewal_info" {
  description = "Renew in the window Signet's ACME Renewal Information (RFC 9773) suggests: a random moment in the last third of the lifetime, to the second."
  type        = bool
  default     = true
}

variable "renewal_info_max_sleep" {
  description = "Seconds (0-900) an apply may wait for the selected ARI renewal moment instead of leaving the renewal to the next run."
  type        = number
  default     = 0
}

variable "cert_lifetime_hours" {
  description = "Lifetime of the certificates Signet's ACME provisioner issues (Signet's default: 24). Used to derive min_days_remaining when use_renewal_info is false."
  type        = number
  default     = 24

  validation {
    condition     = var.cert_lifetime_hours >= 1
    error_message = "cert_lifetime_hours must be at least 1."
  }
}

variable "min_days_remaining" {
  description = "Override the derived day threshold (whole days; the provider renews when floor(days left) <= this; -1 turns the day rule off). Default: -1 with ARI, else derived from cert_lifetime_hours."
  type        = number
  default     = null
}

# ---- Challenge

variable "challenge" {
  description = "http-01, tls-alpn-01, dns-01-rfc2136 or dns-01-exec."
  type        = string
  default     = "http-01"

  validation {
    condition     = contains(["http-01", "tls-alpn-01", "dns-01-rfc2136", "dns-01-exec"], var.challenge)
    error_message = "challenge must be one of http-01, tls-alpn-01, dns-01-rfc2136, dns-01-exec."
  }
}

variable "http01_port" {
  description = "Port the provider's http-01 server listens on, on the machine running Terraform. Signet's validator connects to the name on SIGNET_ACME_HTTP01_PORT: make them equal or forward one to the other."
  type        = number
  default     = 80
}

variable "tlsalpn01_port" {
  description = "Port the provider's tls-alpn-01 server listens on (Signet's validator: SIGNET_ACME_TLSALPN01_PORT)."
  type        = number
  default     = 443
}

variable "dns_resolvers" {
  description = "Resolvers (host:port) the provider polls to see the TXT record; use the one Signet's validator uses (SIGNET_ACME_RESOLVER). Empty: the system's."
  type        = list(string)
  default     = []
}

variable "rfc2136_nameserver" {
  description = "dns-01-rfc2136: primary server accepting dynamic updates, host or host:port."
  type        = string
  default     = ""
}

variable "rfc2136_tsig_algorithm" {
  description = "dns-01-rfc2136: TSIG algorithm, in miekg/dns spelling (trailing dot)."
  type        = string
  default     = "hmac-sha256."
}

variable "rfc2136_tsig_key" {
  description = "dns-01-rfc2136: TSIG key name as configured on the DNS server (empty: no TSIG)."
  type        = string
  default     = ""
}

variable "rfc2136_tsig_secret" {
  description = "dns-01-rfc2136: TSIG secret (base64, as in the server's key statement)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "dns_exec_path" {
  description = "dns-01-exec: program called as `PATH present|cleanup _acme-challenge.NAME. VALUE`."
  type        = string
  default     = ""
}

variable "dns_propagation_timeout" {
  description = "dns-01: seconds to wait for the TXT record to be visible."
  type        = number
  default     = 120
}

# ---- Output files

variable "output_dir" {
  description = "If set, write NAME.key (0600), NAME.crt, NAME.chain.pem and NAME.fullchain.pem here."
  type        = string
  default     = null
}
