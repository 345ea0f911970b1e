#!/usr/bin/env bash
# Attest the service account shop/checkout once and hand the resulting ACME EAB credential to
# cert-manager (cert-manager.yaml). Run it from a workstation or CI job that may create tokens
# for that service account (RBAC: create serviceaccounts/token in shop) and write Secrets in
# cert-manager, with curl, jq and kubectl.
#
#   SIGNET_URL=https://signet.example.internal:8443 ./cert-manager-eab.sh
#
# The token `kubectl create token` makes is bound to the service account but not to a pod, so the
# evidence has no podName/nodeName claims; k8s.cedar does not need them.
set -euo pipefail

SIGNET_URL=${SIGNET_URL:-https://signet.example.internal:8443}
SIGNET_PROVISIONER=${SIGNET_PROVISIONER:-k8s}
SIGNET_ROOT=${SIGNET_ROOT:-root.pem}
NAMESPACE=${NAMESPACE:-shop}
SERVICE_ACCOUNT=${SERVICE_ACCOUNT:-checkout}
HERE=$(cd "$(dirname "$0")" && pwd)

umask 077
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# 1. A 10-minute token for audience signet (10 minutes is the API server's minimum), straight
#    into the request body: it never lands on disk or on a command line.
kubectl -n "$NAMESPACE" create token "$SERVICE_ACCOUNT" --audience signet --duration 10m |
  jq -R '{evidence: {type: "kubernetes", token: .}, credential: "acme"}' |
  curl -sS --fail-with-body --cacert "$SIGNET_ROOT" -H 'content-type: application/json' \
    --data-binary @- -o "$WORK/attest.json" "$SIGNET_URL/attest/$SIGNET_PROVISIONER" || {
  echo "Signet refused the attestation:" >&2
  cat "$WORK/attest.json" >&2 2>/dev/null || true
  echo >&2
  exit 1
}
jq -c '.decision | {identity, spiffeId, dns, lifetimeSeconds}' "$WORK/attest.json"

# 2. cert-manager.yaml with the HMAC key, kid, directory and root filled in, applied in file order
#    (the Secret before the ClusterIssuer that reads it). The substitutions go through a sed
#    script in the private work directory, so that the key never appears on a command line.
{
  printf 's|hmacKey: REPLACE-with-acme.hmacKey|hmacKey: %s|\n' "$(jq -r '.acme.hmacKey' "$WORK/attest.json")"
  printf 's|keyID: REPLACE-with-acme.kid|keyID: %s|\n' "$(jq -r '.acme.kid' "$WORK/attest.json")"
  printf 's|^    server: .*$|    server: %s|\n' "$(jq -r '.acme.directory' "$WORK/attest.json")"
  printf 's|caBundle: REPLACE-with-base64-of-root.pem|caBundle: %s|\n' "$(base64 < "$SIGNET_ROOT" | tr -d '\n')"
} > "$WORK/fill.sed"
sed -f "$WORK/fill.sed" "$HERE/cert-manager.yaml" > "$WORK/cert-manager.yaml"
if grep -q 'REPLACE-with' "$WORK/cert-manager.yaml"; then
  echo "cert-manager.yaml still has REPLACE-with placeholders: was it edited?" >&2
  exit 1
fi
kubectl apply -f "$WORK/cert-manager.yaml"

echo "cert-manager registers the account now; watch: kubectl describe clusterissuer signet-shop-checkout"
