#!/usr/bin/env bash
# End-to-end test of enrol.yml against a real Signet started from this checkout.
#
# Starts Signet (zero-config, embedded database, a temporary SIGNET_HOME) on
# loopback ports, with its ACME validator on SIGNET_ACME_HTTP01_PORT and
# resolving names through pebble-challtestsrv (every name -> 127.0.0.1), turns
# requireEab on for the `acme` provisioner, and runs the playbook:
#   1. new account with a single-use EAB key from `signet eab create`, root
#      downloaded from http://HOST:HTTP_PORT/roots.pem pinned by SHA-256;
#   2. nothing to do while more than 1/3 of the 24 h lifetime remains;
#   3. renewal (fraction 0.9999): new serial, account reused, EAB not sent again;
#   4. names changed: re-issued with both names;
#   5. the spent single-use EAB key with a new account key: refused;
#   6. a wrong MAC for a fresh kid: refused;
#   7. no SSL_CERT_FILE: CERTIFICATE_VERIFY_FAILED; no EAB key: refused;
#   8. EAB key fetched from the real admin API (POST /admin/v1/acme/eab).
#
# Usage: examples/ansible/test/signet-smoke.sh
# Needs: node + this checkout's dependencies (npm install), ansible with
# community.crypto, pebble-challtestsrv (Debian package pebble), openssl, curl.
# Ports: 127.0.0.1:26500-26505 and 26543/26544/26580 (override with PORT_BASE).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
playbook="$here/../enrol.yml"
base="${PORT_BASE:-26500}"
work="$(mktemp -d /tmp/signet-ansible-live.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

export SIGNET_HOME="$work/home"
export SIGNET_HTTPS_PORT=$((base + 43)) SIGNET_HTTP_PORT=$((base + 80)) SIGNET_PROXY_PORT=$((base + 44))
export SIGNET_LISTEN_HOST=127.0.0.1 SIGNET_PUBLIC_HOST=localhost SIGNET_LOG_LEVEL=warn
export SIGNET_ACME_HTTP01_PORT=$((base + 2)) SIGNET_ACME_TLSALPN01_PORT=$((base + 3))
export SIGNET_ACME_RESOLVER="127.0.0.1:$((base + 4))"
https="https://localhost:$SIGNET_HTTPS_PORT"
signet() { (cd "$repo" && node --import tsx src/cli/run.ts "$@"); }
eab() { signet eab create --provisioner acme --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["kid"], d["hmacKey"])'; }

echo "== DNS for the validator, and Signet"
pebble-challtestsrv -dns01 "$SIGNET_ACME_RESOLVER" -management "127.0.0.1:$((base + 5))" \
  -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" > "$work/dns.log" 2>&1 &
pids+=($!)
(cd "$repo" && exec node --import tsx src/cli/run.ts serve) > "$work/signet.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
  curl -sf --cacert "$SIGNET_HOME/ca/root.pem" "$https/acme/acme/directory" >/dev/null 2>&1 && break
  sleep 1
done
curl -sf --cacert "$SIGNET_HOME/ca/root.pem" "$https/acme/acme/directory" >/dev/null

echo "== requireEab on the acme provisioner"
cat > "$work/acme-prov.json" <<EOF
{"type": "acme", "profile": "client-server", "defaultLifetimeSeconds": 86400, "maxLifetimeSeconds": 2592000,
 "options": {"requireEab": true, "allowedProfiles": ["client", "server", "client-server"]}}
EOF
signet provisioners put acme --file "$work/acme-prov.json" --json > /dev/null
curl -sf --cacert "$SIGNET_HOME/ca/root.pem" "$https/acme/acme/directory" | grep -q '"externalAccountRequired":true'

cd "$work"
sha="$(curl -sf "http://localhost:$SIGNET_HTTP_PORT/roots.pem" | sha256sum | cut -d' ' -f1)"
cat > inventory.ini <<EOF
[signet_clients]
app.signet.test ansible_connection=local ansible_python_interpreter=/usr/bin/python3
EOF
cat > vars.yml <<EOF
signet_url: $https
signet_provisioner: acme
signet_root_ca_url: http://localhost:$SIGNET_HTTP_PORT/roots.pem
signet_root_ca_sha256: $sha
signet_trust_mode: env
signet_cert_dir: $work/tls
signet_account_key_path: $work/acme/account.key
signet_http01_webroot: $work/webroot
signet_http01_standalone: true
signet_http01_port: $SIGNET_ACME_HTTP01_PORT
signet_http01_bind: 127.0.0.1
signet_become: false
signet_contact: ['mailto:pki@signet.test']
EOF
read -r kid key < <(eab)
printf 'signet_eab_kid: %s\nsignet_eab_hmac_key: "%s"\n' "$kid" "$key" > eab.yml

run() { ansible-playbook -i inventory.ini "$playbook" -e @vars.yml "$@"; }
serial() { openssl x509 -in tls/app.signet.test.crt -noout -serial; }

echo "== run 1: new account with EAB, first certificate"
run -e @eab.yml | tee run1.log
grep -q 'ordering' run1.log
s1="$(serial)"
openssl verify -x509_strict -CAfile "$SIGNET_HOME/ca/root.pem" -untrusted tls/app.signet.test.chain.pem tls/app.signet.test.crt

echo "== run 2: fresh certificate, nothing to do"
run -e @eab.yml | tee run2.log
grep -q 'nothing to do' run2.log
[ "$(serial)" = "$s1" ]

echo "== run 3: renew (fraction 0.9999), account reused"
run -e @eab.yml -e signet_renew_fraction=0.9999 | tee run3.log
grep -q 'ordering' run3.log
[ "$(serial)" != "$s1" ]

echo "== run 4: names changed"
run -e @eab.yml -e '{"signet_cert_sans": ["app.signet.test", "api.signet.test"]}' | tee run4.log
openssl x509 -in tls/app.signet.test.crt -noout -ext subjectAltName | grep -q api.signet.test

echo "== run 5: the spent single-use EAB key, new account key: refused"
if run -e @eab.yml -e signet_account_key_path="$work/acme/k5.key" -e signet_renew_fraction=0.9999 \
       -e signet_no_log=false > run5.log 2>&1; then echo "FAIL: EAB key reused"; exit 1; fi
grep -q 'already been used' run5.log

echo "== run 6: wrong MAC for a fresh kid: refused"
read -r kid6 _ < <(eab)
if run -e signet_eab_kid="$kid6" -e signet_eab_hmac_key="$(openssl rand 32 | basenc --base64url | tr -d '=\n')" \
       -e signet_account_key_path="$work/acme/k6.key" -e signet_renew_fraction=0.9999 \
       -e signet_no_log=false > run6.log 2>&1; then echo "FAIL: wrong MAC accepted"; exit 1; fi
grep -q 'does not verify' run6.log

echo "== run 7: no SSL_CERT_FILE: server certificate refused"
if run -e @eab.yml -e signet_trust_mode=none -e signet_renew_fraction=0.9999 > run7.log 2>&1; then
  echo "FAIL: untrusted server certificate accepted"; exit 1
fi
grep -q 'CERTIFICATE_VERIFY_FAILED' run7.log

echo "== run 7b: a new account key and no EAB credentials: refused (requireEab)"
if run -e signet_account_key_path="$work/acme/k7.key" -e signet_renew_fraction=0.9999 > run7b.log 2>&1; then
  echo "FAIL: account created without EAB"; exit 1
fi
grep -q 'external account binding must be specified' run7b.log

echo "== run 8: EAB key from the admin API"
run -e signet_account_key_path="$work/acme/k8.key" -e signet_renew_fraction=0.9999 \
    -e signet_admin_token="$(cat "$SIGNET_HOME/admin.token")" \
    -e signet_admin_ca_path="$SIGNET_HOME/ca/root.pem" | tee run8.log
grep -A1 "Create an EAB key through" run8.log | grep -q 'ok:'

echo "PASS"
