#!/usr/bin/env bash
# Regenerates the example PKI in this folder with the openssl CLI.
# FOR TRYING THINGS OUT ONLY: the private keys are public (they are in git).
set -euo pipefail
cd "$(dirname "$0")"
days=3650
rm -f ./*.pem ./*.crt ./*.key ./*.srl ./*.csr

ext() { printf '%s\n' "$@" > "$tmp_ext"; }
tmp_ext=$(mktemp); trap 'rm -f "$tmp_ext"' EXIT

# Root CA (trusted for client certificates and for the server certificate).
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.crt -days "$days" \
  -subj "/C=RU/O=Example/CN=Example mTLS Root CA (NOT FOR PRODUCTION)" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash"
cp ca.crt ca-bundle.crt

# Server certificate: local.trusted.com, localhost, 127.0.0.1, ::1.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout local.trusted.com-key.pem -out server.csr -subj "/O=Example/CN=local.trusted.com"
ext "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:local.trusted.com,DNS:localhost,IP:127.0.0.1,IP:::1" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid"
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
  -days "$days" -extfile "$tmp_ext" -out server-leaf.pem
cat server-leaf.pem ca.crt > local.trusted.com.pem
rm server-leaf.pem server.csr

# A client certificate for "alice" (the seed's example identity).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout client-key.pem -out client.csr \
  -subj "/C=RU/O=Example/OU=Dev/CN=alice/emailAddress=alice@example.com"
ext "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid"
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
  -days "$days" -extfile "$tmp_ext" -out client.pem
rm client.csr
chmod 600 ./*key*
echo "example PKI written to $(pwd)"
