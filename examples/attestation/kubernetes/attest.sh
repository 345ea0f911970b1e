#!/bin/sh
# The init container's job: prove what this pod is to Signet with its projected service-account
# token, get single-use ACME EAB credentials bound to the decision, and order the certificate with
# lego over http-01. kustomization.yaml makes the ConfigMap signet-attest from this file, which
# deployment.yaml mounts at /opt/signet. Needs sh, curl (7.76+), jq (1.6+) and lego (Dockerfile).
#
# Environment:
#   SIGNET_URL          https://signet.example.internal:8443 (Signet's HTTPS port)
#   SIGNET_PROVISIONER  attestation provisioner                                   [k8s]
#   CERT_NAMES          names to order, space-separated; each must be a decided name
#                       (default: every name the decision allows)
#   ACME_EMAIL          contact for the ACME account                [nobody@example.internal]
#   HTTP01_PORT         where lego answers http-01 (the Service sends port 80 here)  [8080]
#   TOKEN_FILE          the projected token       [/var/run/secrets/signet/token]
#   SIGNET_ROOT         Signet's root certificate [/etc/signet/root.pem]
#   TLS_DIR             output: tls.crt (full chain), tls.key, ca.crt, decision.json  [/tls]
set -eu

: "${SIGNET_URL:?set SIGNET_URL to Signet's HTTPS port, e.g. https://signet.example.internal:8443}"
SIGNET_PROVISIONER=${SIGNET_PROVISIONER:-k8s}
ACME_EMAIL=${ACME_EMAIL:-nobody@example.internal}
HTTP01_PORT=${HTTP01_PORT:-8080}
TOKEN_FILE=${TOKEN_FILE:-/var/run/secrets/signet/token}
SIGNET_ROOT=${SIGNET_ROOT:-/etc/signet/root.pem}
TLS_DIR=${TLS_DIR:-/tls}
LEGO_DIR=$TLS_DIR/.lego
ATTEST=$LEGO_DIR/attest.json

umask 077
mkdir -p "$LEGO_DIR"
# lego talks to Signet's ACME server over HTTPS: trust Signet's root, and only it.
export LEGO_CA_CERTIFICATES="$SIGNET_ROOT"

# This container ran before in this pod and finished: nothing to do.
if [ -s "$TLS_DIR/tls.crt" ] && [ -s "$TLS_DIR/tls.key" ]; then
  echo "signet-attest: $TLS_DIR/tls.crt is in place"
  exit 0
fi

account_exists() { [ -n "$(find "$LEGO_DIR/accounts" -name account.json 2>/dev/null | head -n 1)" ]; }
eab_unexpired() {
  [ -s "$ATTEST" ] && jq -e '.acme.expiresAt | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601 > now' "$ATTEST" >/dev/null 2>&1
}

# 1. Attest, unless an earlier run of this container already did (the token's jti and the EAB
# key are single-use: after a failed lego run, retry with what we have). The token goes to curl
# on stdin, never on a command line.
if account_exists || eab_unexpired; then
  echo "signet-attest: reusing the attestation of an earlier run"
else
  echo "signet-attest: POST $SIGNET_URL/attest/$SIGNET_PROVISIONER"
  if ! jq -n --rawfile t "$TOKEN_FILE" \
      '{evidence: {type: "kubernetes", token: ($t | rtrimstr("\n"))}, credential: "acme"}' |
    curl -sS --fail-with-body --retry 5 --retry-connrefused --retry-delay 2 \
      --cacert "$SIGNET_ROOT" -H 'content-type: application/json' --data-binary @- \
      -o "$ATTEST.tmp" "$SIGNET_URL/attest/$SIGNET_PROVISIONER"; then
    # 401: the token does not verify (issuer, audience, keys, expiry, already used);
    # 403: the posture policy refuses, or the node is blocked. The message says why.
    echo "signet-attest: Signet refused the attestation:" >&2
    cat "$ATTEST.tmp" >&2 2>/dev/null || true
    echo >&2
    rm -f "$ATTEST.tmp"
    exit 1
  fi
  mv "$ATTEST.tmp" "$ATTEST"
fi

jq '{decision}' "$ATTEST" > "$TLS_DIR/decision.json"
echo "signet-attest: decision $(jq -c '.decision | {identity, spiffeId, dns, lifetimeSeconds}' "$ATTEST")"

DIRECTORY=$(jq -r '.acme.directory' "$ATTEST")
KID=$(jq -r '.acme.kid' "$ATTEST")
HMAC=$(jq -r '.acme.hmacKey' "$ATTEST")
NAMES=${CERT_NAMES:-$(jq -r '.decision.dns[]' "$ATTEST")}

# 2. What to order: only names the decision allows (Signet refuses any other: rejectedIdentifier).
set --
FIRST=
for n in $NAMES; do
  if ! jq -e --arg n "$n" 'any(.decision.dns[]; . == $n)' "$ATTEST" >/dev/null; then
    echo "signet-attest: $n is not among the decided names $(jq -c '.decision.dns' "$ATTEST")" >&2
    exit 1
  fi
  FIRST=${FIRST:-$n}
  set -- "$@" --domains "$n"
done
[ -n "$FIRST" ] || { echo "signet-attest: the decision allows no DNS name" >&2; exit 1; }

# 3. ACME with lego: the EAB binds the new account to the decision; http-01 is answered on
# $HTTP01_PORT, which the Service (publishNotReadyAddresses) reaches while this pod is not ready.
# --kid=/--hmac= forms: the base64url key may begin with "-".
lego --server "$DIRECTORY" --path "$LEGO_DIR" --accept-tos --email "$ACME_EMAIL" \
  --eab --kid="$KID" --hmac="$HMAC" \
  --key-type ec256 --http --http.port ":$HTTP01_PORT" "$@" run

# 4. Stable file names for the application (lego's .crt is the leaf followed by its issuer).
cp "$LEGO_DIR/certificates/$FIRST.key" "$TLS_DIR/tls.key"
cp "$LEGO_DIR/certificates/$FIRST.crt" "$TLS_DIR/tls.crt"
cp "$SIGNET_ROOT" "$TLS_DIR/ca.crt"
rm -f "$ATTEST"   # the EAB key is spent; decision.json keeps what was decided
echo "signet-attest: $TLS_DIR/tls.crt issued for" $NAMES
