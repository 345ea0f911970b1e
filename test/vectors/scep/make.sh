#!/usr/bin/env bash
# Regenerates the SCEP CMS test vectors in this folder with openssl alone (see README.md).
# Keys are fresh on every run, so every file changes together; the names do not.
set -euo pipefail
cd "$(dirname "$0")"

conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
# A config of our own, so the system openssl.cnf cannot change what the certificates carry.
cat >"$conf" <<'CONF'
[req]
prompt = no
distinguished_name = dn
attributes = attrs
[dn]
CN = vector-device
[attrs]
challengePassword = vector-secret
[ra]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
CONF

# The RA and the client: RSA-2048, self-signed, valid long enough that the vectors do not expire.
openssl req -config "$conf" -x509 -newkey rsa:2048 -nodes -keyout ra.key -out ra.pem \
  -days 36500 -subj "/O=Signet vectors/CN=Vector SCEP RA" -extensions ra
openssl req -config "$conf" -x509 -newkey rsa:2048 -nodes -keyout client.key -out client.pem \
  -days 36500 -subj "/O=Signet vectors/CN=vector-device" -extensions client

# The client's PKCS#10 request, with the challengePassword attribute.
openssl req -config "$conf" -new -key client.key -outform DER -out csr.der

# pkcsPKIEnvelopes: the CSR encrypted to the RA (PKCS#1 v1.5 key transport unless stated).
openssl cms -encrypt -binary -aes128 -in csr.der -recip ra.pem -outform DER -out env-aes128.der
openssl cms -encrypt -binary -aes256 -in csr.der -recip ra.pem -outform DER -out env-aes256.der
openssl cms -encrypt -binary -des3 -in csr.der -recip ra.pem -outform DER -out env-des3.der
openssl cms -encrypt -binary -aes256 -in csr.der -recip ra.pem -keyopt rsa_padding_mode:oaep \
  -outform DER -out env-oaep.der
# Encrypted to someone other than the RA.
openssl cms -encrypt -binary -aes256 -in csr.der -recip client.pem -outform DER -out env-other.der

# SignedData around the AES-256 envelope, signed by the client: DER, streamed BER (indefinite
# lengths, constructed OCTET STRING), and with SHA-1.
openssl cms -sign -nodetach -binary -md sha256 -in env-aes256.der -signer client.pem -inkey client.key \
  -outform DER -out signed-der.der
openssl cms -sign -nodetach -binary -md sha256 -stream -in env-aes256.der -signer client.pem -inkey client.key \
  -outform DER -out signed-ber.der
openssl cms -sign -nodetach -binary -md sha1 -in env-aes256.der -signer client.pem -inkey client.key \
  -outform DER -out signed-sha1.der
