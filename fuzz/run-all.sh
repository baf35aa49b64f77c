#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, two at a time,
# with the checked-in corpora; new interesting inputs are merged back small.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
run() {
  local t=$1
  mkdir -p "corpus/$t" "/tmp/fuzz-work/$t"
  nice cargo fuzz run -O "$t" "/tmp/fuzz-work/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 >"/tmp/fuzz-$t.log" 2>&1 \
    && echo "$t: OK ($(grep -o 'Done [0-9]* runs' "/tmp/fuzz-$t.log" | tail -1))" \
    || { echo "$t: FAILED, see /tmp/fuzz-$t.log and fuzz/artifacts/$t"; return 1; }
  # Keep the checked-in corpus small: minimize into it.
  local tmp; tmp=$(mktemp -d)
  cargo fuzz cmin -O "$t" "corpus/$t" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
status=0
run dn & a=$!; run cert_identity & b=$!; wait $a || status=1; wait $b || status=1
run config & a=$!; run template & b=$!; wait $a || status=1; wait $b || status=1
run header_rewrite & a=$!; run verify_chain & b=$!; wait $a || status=1; wait $b || status=1
run nginx_conf || status=1
run proxy_header & a=$!; run session_ticket & b=$!; wait $a || status=1; wait $b || status=1
exit $status
