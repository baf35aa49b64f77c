#!/usr/bin/env bash
# Regenerates the example PKI in this folder with `mtls-gateway certs`
# (new keys and serials), exactly as an operator would make a real one.
# FOR TRYING THINGS OUT ONLY: the private keys are public (they are in git),
# and the example certificates last 10 years so that the demo keeps working.
set -euo pipefail
cd "$(dirname "$0")"

certs() { cargo run --quiet --locked --bin mtls-gateway -- certs "$@"; }

# The password of client.p12 (public, like everything here).
password_file=$(mktemp)
trap 'rm -f "$password_file"' EXIT
echo example > "$password_file"

certs init --out . --force \
  --org Example --country RU \
  --ca-name "Example mTLS Root CA (NOT FOR PRODUCTION)" \
  --client-ca-name "Example mTLS Client CA (NOT FOR PRODUCTION)" \
  --server-name local.trusted.com --server-name localhost \
  --server-name 127.0.0.1 --server-name ::1 \
  --ca-days 3660 --server-days 3650

# alice, the seed's example user: C=RU, O=Example, OU=Dev, CN=alice, emailAddress=alice@example.com
certs client --ca . --out . --name client --force \
  --cn alice --email alice@example.com --ou Dev --days 3650 \
  --password-file "$password_file"
