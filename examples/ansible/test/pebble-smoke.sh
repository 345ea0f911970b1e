#!/usr/bin/env bash
# Smoke test of enrol.yml against Let's Encrypt's Pebble (Debian package
# `pebble`): a second, independent ACME server (signet-smoke.sh runs Signet itself).
#
# What is exercised, as with Signet:
#   - TLS trust of the ACME server through SSL_CERT_FILE (validate_certs stays
#     true): Pebble's HTTPS certificate comes from a throwaway private CA made
#     here, as Signet's HTTPS port's comes from Signet's own CA;
#   - externalAccountBindingRequired with an HS256 MAC key in base64url;
#   - a real http-01 validation (no PEBBLE_VA_ALWAYS_VALID): Pebble's validator
#     resolves the name through pebble-challtestsrv (every name -> 127.0.0.1)
#     and fetches the key authorisation from the playbook's standalone webroot
#     server on Pebble's httpPort, as Signet's validator uses
#     SIGNET_ACME_HTTP01_PORT and SIGNET_ACME_RESOLVER;
#   - short-lived certificates (1 hour here) and the 1/3-of-lifetime renewal
#     rule: run 2 must do nothing, run 3 (fraction 0.9999) must renew.
#
# Usage: examples/ansible/test/pebble-smoke.sh   (needs pebble, ansible, openssl, curl)
# Ports: 127.0.0.1:26400-26406 (override with PORT_BASE=...).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
playbook="$here/../enrol.yml"
base="${PORT_BASE:-26400}"
acme_port=$base mgmt_port=$((base + 1)) http01_port=$((base + 2)) tls_port=$((base + 3))
dns_port=$((base + 4)) dns_mgmt_port=$((base + 5))
work="$(mktemp -d /tmp/signet-ansible-smoke.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$work"

echo "== throwaway CA for the ACME server's HTTPS port"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=Smoke Test Root" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout tls.key -out tls.csr 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out tls.pem \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') 2>/dev/null

echo "== EAB key (32 random bytes, base64url without padding, as Signet prints hmacKey)"
kid="smoke-kid-1"
hmac="$(openssl rand 32 | basenc --base64url | tr -d '=\n')"
cat > pebble.json <<EOF
{ "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/tls.pem",
    "privateKey": "$work/tls.key",
    "httpPort": $http01_port,
    "tlsPort": $tls_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": true,
    "externalAccountMACKeys": { "$kid": "$hmac" },
    "certificateValidityPeriod": 3600
} }
EOF

echo "== start pebble-challtestsrv (DNS only) and pebble"
pebble-challtestsrv -dns01 "127.0.0.1:$dns_port" -management "127.0.0.1:$dns_mgmt_port" \
  -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" > challtestsrv.log 2>&1 &
pids+=($!)
PEBBLE_VA_NOSLEEP=1 pebble -config pebble.json -dnsserver "127.0.0.1:$dns_port" > pebble.log 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  curl -sf --cacert ca.pem "https://127.0.0.1:$acme_port/dir" >/dev/null && break
  sleep 0.2
done
curl -sf --cacert ca.pem "https://127.0.0.1:$acme_port/dir" | grep -q externalAccountRequired

cat > inventory.ini <<EOF
[signet_clients]
app.smoke.test ansible_connection=local ansible_python_interpreter=/usr/bin/python3
EOF
cat > vars.yml <<EOF
signet_acme_directory: https://127.0.0.1:$acme_port/dir
signet_root_ca_src: $work/ca.pem
signet_trust_mode: env
signet_cert_dir: $work/tls
signet_account_key_path: $work/acme/account.key
signet_http01_webroot: $work/webroot
signet_http01_standalone: true
signet_http01_port: $http01_port
signet_http01_bind: 127.0.0.1
signet_verify_ca_path: $work/pebble-roots.pem
signet_become: false
signet_contact: ['mailto:pki@smoke.test']
EOF

# Pebble issues from a root it generates at start; fetch it to verify chains.
# (With Signet, the issuing root and the HTTPS root are the same root.pem.)
curl -sf --cacert ca.pem "https://127.0.0.1:$mgmt_port/roots/0" > pebble-roots.pem

cat > eab.yml <<EOF
signet_eab_kid: $kid
signet_eab_hmac_key: $hmac
EOF

run() { ansible-playbook -i inventory.ini "$playbook" -e @vars.yml "$@"; }
serial() { openssl x509 -in tls/app.smoke.test.crt -noout -serial; }

echo "== run 1: new account with EAB, first certificate"
run -e @eab.yml | tee run1.log
grep -q 'ordering' run1.log
s1="$(serial)"
openssl verify -CAfile pebble-roots.pem -untrusted tls/app.smoke.test.chain.pem tls/app.smoke.test.crt

echo "== run 2: certificate fresh (1 h life, < 1/3 elapsed): nothing to do"
run -e @eab.yml | tee run2.log
grep -q 'nothing to do' run2.log
[ "$(serial)" = "$s1" ]

echo "== run 3: renew fraction 0.9999: must renew, account reused without EAB"
run -e @eab.yml -e signet_renew_fraction=0.9999 | tee run3.log
grep -q 'ordering' run3.log
[ "$(serial)" != "$s1" ]

echo "== run 4: the names change: must re-issue"
run -e @eab.yml -e '{"signet_cert_sans": ["app.smoke.test", "api.smoke.test"]}' | tee run4.log
openssl x509 -in tls/app.smoke.test.crt -noout -ext subjectAltName | grep -q api.smoke.test

echo "== a wrong EAB key is refused (fresh account key)"
if run -e @eab.yml -e signet_account_key_path="$work/acme/other.key" \
       -e signet_eab_hmac_key="$(openssl rand 32 | basenc --base64url | tr -d '=\n')" \
       -e signet_renew_fraction=0.9999 -e signet_no_log=false > run5.log 2>&1; then
  echo "FAIL: a wrong EAB key was accepted"; exit 1
fi
grep -q -i 'externalAccountBinding\|unauthorized\|malformed' run5.log

echo "== without SSL_CERT_FILE the ACME server's certificate is refused"
if run -e @eab.yml -e signet_trust_mode=none -e signet_renew_fraction=0.9999 > run6.log 2>&1; then
  echo "FAIL: untrusted server certificate accepted"; exit 1
fi
grep -q -i 'certificate verify failed' run6.log

echo "== a new account with no EAB credentials: refused (the directory requires EAB)"
if run -e signet_account_key_path="$work/acme/third.key" -e signet_renew_fraction=0.9999 > run7.log 2>&1; then
  echo "FAIL: account created without EAB"; exit 1
fi
grep -q 'external account binding must be specified' run7.log

echo "== EAB key from the admin API (a mock of POST /admin/v1/acme/eab answering Pebble's kid/key)"
cat > admin_mock.py <<EOF
import http.server, json, ssl
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        ok = (self.path == '/admin/v1/acme/eab' and self.headers.get('Authorization') == 'Bearer smoke-admin-token'
              and body == {'provisioner': 'acme'})
        self.send_response(201 if ok else 401)
        self.send_header('Content-Type', 'application/json'); self.end_headers()
        self.wfile.write(json.dumps({'kid': '$kid', 'hmacKey': '$hmac', 'provisioner': 'acme'} if ok else {}).encode())
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', $((base + 6))), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('$work/tls.pem', '$work/tls.key')
s.socket = c.wrap_socket(s.socket, server_side=True); s.serve_forever()
EOF
/usr/bin/python3 admin_mock.py & pids+=($!)
sleep 0.5
run -e signet_account_key_path="$work/acme/fourth.key" -e signet_renew_fraction=0.9999 \
    -e signet_url=https://127.0.0.1:$((base + 6)) -e signet_admin_token=smoke-admin-token \
    -e signet_admin_ca_path="$work/ca.pem" | tee run8.log
grep -q 'ordering' run8.log

echo "PASS"
