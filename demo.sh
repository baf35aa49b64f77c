#!/usr/bin/env bash
# Brings up the nginx block's flow (config/gateway.toml) on this machine: the echo backend on
# 127.0.0.1:8080, the gateway on 127.0.0.1:3443 (loopback only: the example
# keys are public) with config/gateway.toml and the
# example PKI in certs-example/ (for trying things out only), then shows a
# request with alice's client certificate and one without.
# Keeps running until Ctrl-C; DEMO_ONCE=1 stops after the show.
set -euo pipefail
cd "$(dirname "$0")"

cargo build --release --locked --workspace --bins --quiet
bin=target/release

for port in 3443 8080; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use; stop what listens there first" >&2
    exit 1
  fi
done

"$bin/echo-backend" --listen 127.0.0.1:8080 >/dev/null 2>/tmp/mtls-gateway-demo-backend.log &
backend=$!
"$bin/mtls-gateway" run --config config/gateway.toml 2>/tmp/mtls-gateway-demo.log &
gateway=$!
trap 'kill $gateway $backend 2>/dev/null; wait $gateway $backend 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  grep -q "mtls-gateway ready" /tmp/mtls-gateway-demo.log 2>/dev/null && break
  kill -0 $gateway 2>/dev/null || { cat /tmp/mtls-gateway-demo.log >&2; exit 1; }
  sleep 0.1
done

show() {
  echo
  echo "\$ $*"
  "$@" || true
}

echo "mtls-gateway is listening on https://localhost:3443 (log: /tmp/mtls-gateway-demo.log)"
echo "backend: echo-backend on 127.0.0.1:8080, which answers with the request it received"
show curl -sS --cacert certs-example/ca.crt --cert certs-example/client.pem --key certs-example/client-key.pem \
  https://localhost:3443/api/mtls
show curl -sS --cacert certs-example/ca.crt https://localhost:3443/api/mtls
echo
show curl -sS --cacert certs-example/ca.crt --cert certs-example/client.pem --key certs-example/client-key.pem \
  https://localhost:3443/
echo
if [ "${DEMO_ONCE:-0}" = 1 ]; then
  exit 0
fi
echo
echo "Try your own requests; Ctrl-C stops the gateway and the backend."
wait $gateway
