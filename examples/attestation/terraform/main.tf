# A first certificate from Signet by attestation, with Terraform alone:
#
#   1. data "http" "join_token": POST /admin/v1/attestation/join-tokens with an admin token: a
#      one-time join token whose claims (identity, nodeId, dns) say what this run may become.
#   2. data "http" "attest": POST /attest/{provisioner} with that token as the evidence: Signet's
#      posture policy decides the identity and names, and the answer carries single-use ACME
#      External Account Binding (EAB) credentials bound to the decision.
#   3. acme_registration with external_account_binding { key_id, hmac_base64 } from step 2, and
#      acme_certificate for the decided names, on the ACME provisioner the EAB key belongs to
#      (acme-attested, which requires EAB). That account orders only the decided names, and its
#      certificates carry the decision's SPIFFE ID whatever the CSR says.
#
# Trust: data "http" trusts Signet's root through ca_cert_pem; the acme provider (lego) through
# the environment:
#   LEGO_CA_CERTIFICATES=/path/to/signet-root.pem terraform apply
#
# STATE HOLDS THE CREDENTIALS. Terraform keeps data sources' arguments and results in its state,
# in plain text (sensitive only hides them from output):
#   - the join token and the EAB kid and hmacKey: single-use and short-lived (the token lives
#     join_token_ttl_seconds, the EAB key the attestation provisioner's credentialTtlSeconds,
#     15 minutes by default), and this apply spends them, so what state keeps of them no longer
#     works by the time anyone reads it;
#   - the admin token, in the join-token request's headers: it does stay usable. Give each run
#     its own short-lived one (signet admin-token create --name tf-web-3 --ttl 1h) and revoke it
#     afterwards, or mint the join token outside Terraform (signet token join ... --json) and pass
#     it as join_token, so that Terraform never sees an admin token;
#   - as in ../../terraform, the ACME account key and the certificate's private key.
# Use an encrypted, access-controlled backend. With attest = false (below) the data sources, and
# with them the tokens, leave the state (the spent EAB key stays in the registration's).
#
# Data sources are read at every plan, so with attest = true every plan (destroy's too) mints a
# join token, spends it and gets a new EAB key that nobody uses (it expires). The account is
# registered once (the EAB block is ignored after that) and the decision is pinned in
# terraform_data.decision. Set attest = false once the certificate exists: renewal (ARI) needs
# neither an admin token nor a new attestation, until the decision expires (the attestation
# provisioner's renewal.maxAgeSeconds, 30 days by default). Signet then refuses the account's
# orders ("attest again for a new account"): apply with attest = true and
#   -replace=terraform_data.decision -replace=tls_private_key.account
# A saved plan must be applied within the EAB key's lifetime.

terraform {
  required_version = ">= 1.4.0" # terraform_data

  required_providers {
    http = {
      source = "hashicorp/http"
      # method and request_body 3.1, ca_cert_pem 3.2, retry 3.3.
      version = ">= 3.4.0, < 4.0.0"
    }
    acme = {
      source = "vancluever/acme"
      # use_renewal_info (ARI); pin the version you have tested.
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
  signet_url      = trimsuffix(var.signet_url, "/")
  signet_root_pem = file(var.signet_root_ca_file)
  # /attest/{provisioner} answers with {signet_url}/acme/{acmeProvisioner}/directory; the
  # provider needs it before anything is read, so it is built here and checked against the answer.
  directory_url = "${local.signet_url}/acme/${var.acme_provisioner}/directory"

  # What the join token lets this run become; the posture policy reads these claims (the
  # zero-config "attest" policy: identity -> spiffe://{trustDomain}/{identity}, dns -> the names).
  join_claims = merge(
    { identity = var.identity, dns = var.dns_names },
    var.node_id == null ? {} : { nodeId = var.node_id },
  )

  attestation = var.attest ? jsondecode(data.http.attest[0].response_body) : null
}

# ---- 1. A one-time join token (admin API), unless one is given (var.join_token)

data "http" "join_token" {
  count = var.attest && var.join_token == null ? 1 : 0

  url         = "${local.signet_url}/admin/v1/attestation/join-tokens"
  method      = "POST"
  ca_cert_pem = local.signet_root_pem

  request_headers = {
    Accept        = "application/json"
    Authorization = "Bearer ${var.signet_admin_token}"
    Content-Type  = "application/json"
  }

  request_body = jsonencode({
    provisioner = var.attestation_provisioner
    ttlSeconds  = var.join_token_ttl_seconds
    claims      = local.join_claims
    note        = "terraform: ${var.identity}"
  })

  lifecycle {
    precondition {
      condition     = var.signet_admin_token != ""
      error_message = "attest = true needs signet_admin_token (to create the join token) or join_token."
    }
    postcondition {
      condition     = self.status_code == 201
      error_message = "Signet did not create the join token (HTTP ${self.status_code}): ${self.response_body}"
    }
  }
}

# ---- 2. Attest with it: the decision, and EAB credentials bound to it

data "http" "attest" {
  count = var.attest ? 1 : 0

  url         = "${local.signet_url}/attest/${var.attestation_provisioner}"
  method      = "POST"
  ca_cert_pem = local.signet_root_pem

  request_headers = {
    Accept       = "application/json"
    Content-Type = "application/json"
  }

  request_body = sensitive(jsonencode({
    evidence = {
      type  = "join-token"
      token = var.join_token != null ? var.join_token : jsondecode(data.http.join_token[0].response_body).token
    }
    credential = "acme"
  }))

  lifecycle {
    # 401: the join token is unknown, used or expired; 403: the policy refuses (the body says
    # why; reasons never quote the evidence).
    postcondition {
      condition     = self.status_code == 201
      error_message = "Signet refused the attestation (HTTP ${self.status_code}): ${self.response_body}"
    }
    postcondition {
      condition     = self.status_code != 201 || try(jsondecode(self.response_body).acme.directory, "") == local.directory_url
      error_message = "The EAB key is for another ACME directory than ${local.directory_url}: set acme_provisioner to the attestation provisioner's options.acmeProvisioner, and signet_url to the host and port Signet is reached at."
    }
    postcondition {
      condition     = self.status_code != 201 || length(try(jsondecode(self.response_body).decision.dns, [])) > 0
      error_message = "The decision allows no DNS name: give the join token a dns claim (dns_names) that the posture policy turns into names."
    }
  }
}

# The decision, pinned at the first attestation: the account below is bound to it until it
# expires. To change names, or once it has expired, attest again into a new account:
#   terraform apply -replace=terraform_data.decision -replace=tls_private_key.account
resource "terraform_data" "decision" {
  input = local.attestation == null ? null : {
    identity  = local.attestation.decision.identity
    spiffe_id = local.attestation.decision.spiffeId
    node_id   = local.attestation.decision.nodeId
    dns       = local.attestation.decision.dns
  }

  lifecycle {
    ignore_changes = [input]
  }
}

# ---- 3. ACME: an account bound to the decision, and the certificate

provider "acme" {
  server_url = local.directory_url
}

resource "tls_private_key" "account" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "acme_registration" "signet" {
  account_key_pem = tls_private_key.account.private_key_pem
  email_address   = var.contact_email

  # Only while attesting. The key matters once, when the account is created.
  dynamic "external_account_binding" {
    for_each = local.attestation == null ? [] : [local.attestation.acme]
    content {
      key_id = external_account_binding.value.kid
      # Despite the name, the provider hands this to lego, which decodes base64url: pass
      # Signet's hmacKey unchanged.
      hmac_base64 = sensitive(external_account_binding.value.hmacKey)
    }
  }

  lifecycle {
    # Every later attestation brings a new (unused) EAB key; the account keeps the first one.
    ignore_changes = [external_account_binding]
  }
}

locals {
  decision = terraform_data.decision.output
  names    = local.decision == null ? [] : local.decision.dns
  # try(): with no decision (attest = false on the first run) the precondition below says so.
  cert_name = try(local.names[0], "")
}

resource "acme_certificate" "signet" {
  account_key_pem = acme_registration.signet.account_key_pem

  # The decided names, and only them: Signet refuses any other (rejectedIdentifier).
  common_name               = local.cert_name
  subject_alternative_names = try(slice(local.names, 1, length(local.names)), [])
  key_type                  = "P256"

  # Renew when Signet's ACME Renewal Information says (the last third of the lifetime); the day
  # rule is off (-1), since whole days say nothing about 24-hour certificates.
  use_renewal_info   = true
  min_days_remaining = -1

  # http-01: the provider answers on http01_port on the machine running Terraform, which the
  # decided names must resolve to for Signet's validator (SIGNET_ACME_RESOLVER; port
  # SIGNET_ACME_HTTP01_PORT, 80 by default). ../../terraform/main.tf shows tls-alpn-01 and dns-01.
  http_challenge {
    port = var.http01_port
  }

  lifecycle {
    precondition {
      condition     = length(local.names) > 0
      error_message = "No decision yet: run the first apply with attest = true."
    }
  }
}

# ---- Outputs

output "decision" {
  description = "What Signet decided: identity, SPIFFE ID, node, names."
  value       = local.decision
}

output "certificate_pem" {
  value = acme_certificate.signet.certificate_pem
}

output "issuer_pem" {
  value = acme_certificate.signet.issuer_pem
}

output "private_key_pem" {
  value     = acme_certificate.signet.private_key_pem
  sensitive = true
}

output "certificate_not_after" {
  value = acme_certificate.signet.certificate_not_after
}

# ---- Optional files

resource "local_sensitive_file" "key" {
  count           = var.output_dir == null ? 0 : 1
  filename        = "${var.output_dir}/${local.cert_name}.key"
  content         = acme_certificate.signet.private_key_pem
  file_permission = "0600"
}

resource "local_file" "fullchain" {
  count           = var.output_dir == null ? 0 : 1
  filename        = "${var.output_dir}/${local.cert_name}.fullchain.pem"
  content         = "${acme_certificate.signet.certificate_pem}${acme_certificate.signet.issuer_pem}"
  file_permission = "0644"
}
