# Enrol a certificate from Signet's ACME server with the vancluever/acme provider.
#
# Trust: the provider (lego) must trust Signet's root, which signs Signet's
# HTTPS port. Run Terraform with
#   LEGO_CA_CERTIFICATES=/path/to/signet-root.pem terraform apply
# (see README.md for the other ways and their limits).
#
# State: this configuration keeps private keys (account and certificate) in
# Terraform state. Use an encrypted, access-controlled backend.

terraform {
  required_version = ">= 1.3.0"

  required_providers {
    acme = {
      source = "vancluever/acme"
      # use_renewal_info (ARI, RFC 9773) is documented from 2.38 at the latest;
      # pin the version you have tested.
      version = ">= 2.38.0, < 3.0.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0"
    }
    local = {
      source  = "hashicorp/local"
      version = ">= 2.2"
    }
  }
}

locals {
  directory_url = coalesce(
    var.signet_acme_directory,
    "${trimsuffix(var.signet_url, "/")}/acme/${var.signet_provisioner}/directory",
  )

  names = distinct(concat([var.common_name], var.subject_alternative_names))
  sans  = [for n in local.names : n if n != var.common_name]

  # Renewal. The provider renews when ARI says so (use_renewal_info: Signet's
  # renewalInfo window is the last third of the lifetime, to the second) OR
  # when floor(days left) <= min_days_remaining. With ARI on, the day rule is
  # switched off (-1): at 24 hours it would fire at every plan. Without ARI,
  # the smallest threshold that renews no later than at 1/3 of the lifetime
  # left is ceil(lifetime_days / 3) - 1: 90 d -> 29, 30 d -> 9, 7 d -> 2
  # (renews at 3 days left), 3 d or less -> 0, and 0 means "renew at every
  # plan/apply once less than a day is left", i.e. always for 24-hour
  # certificates. See README.md.
  min_days_remaining = (
    var.min_days_remaining != null ? var.min_days_remaining
    : var.use_renewal_info ? -1
    : max(0, ceil(var.cert_lifetime_hours / 72) - 1)
  )

  rfc2136_config = {
    for k, v in {
      RFC2136_NAMESERVER          = var.rfc2136_nameserver
      RFC2136_TSIG_ALGORITHM      = var.rfc2136_tsig_key != "" ? var.rfc2136_tsig_algorithm : ""
      RFC2136_TSIG_KEY            = var.rfc2136_tsig_key
      RFC2136_TSIG_SECRET         = var.rfc2136_tsig_secret
      RFC2136_PROPAGATION_TIMEOUT = tostring(var.dns_propagation_timeout)
      RFC2136_POLLING_INTERVAL    = "2"
    } : k => v if v != ""
  }
}

provider "acme" {
  server_url = local.directory_url
}

# ---- Account: P-256 key, bound to Signet with External Account Binding

resource "tls_private_key" "account" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "acme_registration" "signet" {
  account_key_pem = tls_private_key.account.private_key_pem
  email_address   = var.contact_email

  external_account_binding {
    key_id = var.eab_kid
    # Despite the name, the provider hands this to lego, which decodes it as
    # base64url (RFC 8555): pass Signet's hmacKey unchanged.
    hmac_base64 = var.eab_hmac_key
  }

  lifecycle {
    # The EAB key only matters when the account is created. Replacing the
    # registration would deactivate the account (destroy) and then try to
    # register the same, now deactivated, account key again.
    ignore_changes = [external_account_binding]
  }
}

# ---- Optional: our own key and CSR

resource "tls_private_key" "cert" {
  count       = var.use_external_csr ? 1 : 0
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_cert_request" "cert" {
  count           = var.use_external_csr ? 1 : 0
  private_key_pem = tls_private_key.cert[0].private_key_pem
  dns_names       = local.names

  subject {
    common_name = var.common_name
  }
}

# ---- Certificate

resource "acme_certificate" "signet" {
  account_key_pem = acme_registration.signet.account_key_pem

  # Either the provider makes the key and CSR...
  common_name               = var.use_external_csr ? null : var.common_name
  subject_alternative_names = var.use_external_csr ? null : local.sans
  key_type                  = var.use_external_csr ? null : "P256"
  # ...or we send ours.
  certificate_request_pem = var.use_external_csr ? tls_cert_request.cert[0].cert_request_pem : null

  use_renewal_info       = var.use_renewal_info
  renewal_info_max_sleep = var.renewal_info_max_sleep
  min_days_remaining     = local.min_days_remaining

  recursive_nameservers = length(var.dns_resolvers) > 0 ? var.dns_resolvers : null

  # http-01: the provider serves the key authorisation itself on http01_port,
  # on the machine running Terraform, which the names must resolve to (through
  # Signet's resolver).
  dynamic "http_challenge" {
    for_each = var.challenge == "http-01" ? [1] : []
    content {
      port = var.http01_port
    }
  }

  dynamic "tls_challenge" {
    for_each = var.challenge == "tls-alpn-01" ? [1] : []
    content {
      port = var.tlsalpn01_port
    }
  }

  # dns-01 through RFC 2136 dynamic updates (BIND, Knot, PowerDNS...).
  dynamic "dns_challenge" {
    for_each = var.challenge == "dns-01-rfc2136" ? [1] : []
    content {
      provider = "rfc2136"
      config   = local.rfc2136_config
    }
  }

  # dns-01 through a program of yours.
  dynamic "dns_challenge" {
    for_each = var.challenge == "dns-01-exec" ? [1] : []
    content {
      provider = "exec"
      config = {
        EXEC_PATH                = var.dns_exec_path
        EXEC_PROPAGATION_TIMEOUT = tostring(var.dns_propagation_timeout)
        EXEC_POLLING_INTERVAL    = "2"
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.challenge != "dns-01-rfc2136" || var.rfc2136_nameserver != ""
      error_message = "challenge = dns-01-rfc2136 needs rfc2136_nameserver."
    }
    precondition {
      condition     = var.challenge != "dns-01-exec" || var.dns_exec_path != ""
      error_message = "challenge = dns-01-exec needs dns_exec_path."
    }
  }
}

# ---- Outputs

locals {
  private_key_pem = (
    var.use_external_csr
    ? tls_private_key.cert[0].private_key_pem
    : acme_certificate.signet.private_key_pem
  )
  fullchain_pem = "${acme_certificate.signet.certificate_pem}${acme_certificate.signet.issuer_pem}"
}

output "directory_url" {
  value = local.directory_url
}

output "certificate_pem" {
  value = acme_certificate.signet.certificate_pem
}

output "issuer_pem" {
  value = acme_certificate.signet.issuer_pem
}

output "fullchain_pem" {
  value = local.fullchain_pem
}

output "private_key_pem" {
  value     = local.private_key_pem
  sensitive = true
}

output "certificate_not_after" {
  value = acme_certificate.signet.certificate_not_after
}

output "min_days_remaining" {
  value = local.min_days_remaining
}

# ---- Optional files

resource "local_sensitive_file" "key" {
  count           = var.output_dir == null ? 0 : 1
  filename        = "${var.output_dir}/${var.common_name}.key"
  content         = local.private_key_pem
  file_permission = "0600"
}

resource "local_file" "cert" {
  count           = var.output_dir == null ? 0 : 1
  filename        = "${var.output_dir}/${var.common_name}.crt"
  content         = acme_certificate.signet.certificate_pem
  file_permission = "0644"
}

resource "local_file" "chain" {
  count           = var.output_dir == null ? 0 : 1
  filename        = "${var.output_dir}/${var.common_name}.chain.pem"
  content         = acme_certificate.signet.issuer_pem
  file_permission = "0644"
}

resource "local_file" "fullchain" {
  count           = var.output_dir == null ? 0 : 1
  filename        = "${var.output_dir}/${var.common_name}.fullchain.pem"
  content         = local.fullchain_pem
  file_permission = "0644"
}
