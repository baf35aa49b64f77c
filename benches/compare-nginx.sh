#!/usr/bin/env bash
# benches/compare-nginx.sh: load-test mtls-gateway side by side with nginx
# (the seed's server block as written, and tuned with upstream keepalive)
# and HAProxy, with the same load generator (mtls-bench), on loopback only.
#
# Usage (from anywhere; root installs missing Debian packages):
#   benches/compare-nginx.sh                  # 3 alternating runs of every mode, 10 s each
#   RUNS=1 DURATION=3 benches/compare-nginx.sh   # a quick look
#   PIN=0 benches/compare-nginx.sh            # the deployment shape: unpinned, a worker per core
#
# Settings (environment):
#   RUNS=3          runs per (mode, server); servers alternate in rotating order
#   DURATION=10     seconds per run
#   CONNS=32        concurrent connections (keepalive, rate); HS_CONNS=16 for handshake/resume
#   IDLE_CONNS=5000 connections held in the idle mode; IDLE_HOLD=5
#   PIN=1           server on CPU 1 with one worker (nginx worker_processes 1, HAProxy
#                   nbthread 1, the gateway's runtime sees one CPU), load generator and
#                   backend on CPU 0. PIN=0: nothing pinned, a worker per CPU in every
#                   server (nginx worker_processes, HAProxy nbthread, the gateway's
#                   workers), clients and backend with as many threads: how it is deployed.
#   MODES="keepalive keepalive-h2 keepalive-log keepalive-h2-log handshake resume
#          resume-tls12 resume-tls12-ids rate idle oha-keepalive oha-keepalive-h2
#          oha-keepalive-log oha-handshake"  (the oha-* modes need OHA=1)
#                   *-log: access log written to a file on both sides (nginx
#                   `access_log FILE combined`; the gateway `combined`, and `json` as the
#                   server gateway-json); HAProxy logs only to syslog, so it sits these out
#   SERVERS="gateway nginx nginx-ka haproxy"
#   SERVER_KEY=ecdsa (or rsa2048)   the server certificate's key
#   BACKEND=static (mtls-bench backend, answers 200 only with X-SSL-Client-Verify: SUCCESS)
#           or echo (target/release/echo-backend)
#   OHA=1           also run the oha-* modes (oha as the client: HTTP/1.1 and HTTP/2
#                   keep-alive, access log on, and --disable-keepalive); oha is installed
#                   with `cargo install oha --locked` into ~/.cargo/bin if it is missing
#   KEEP=0          1 keeps the work folder (configs, logs, raw JSON)
#   CHARTS=bench-charts  folder (created) for the SVG charts drawn from this run by
#                   benches/charts.py: requests_per_s.svg, cpu_per_request.svg, latency.svg
#                   (CHARTS= to skip); docs/performance.md embeds copies in docs/img/
#   GATEWAY_BIN=    a gateway binary to measure instead of target/release/mtls-gateway
#
# Every process it starts is ended by PID on exit (also on Ctrl-C); nothing
# listens beyond 127.0.0.1; every run is bounded by DURATION.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
HS_CONNS=${HS_CONNS:-16}
IDLE_CONNS=${IDLE_CONNS:-5000}
IDLE_HOLD=${IDLE_HOLD:-5}
PIN=${PIN:-1}
MODES=${MODES:-"keepalive keepalive-h2 keepalive-log keepalive-h2-log handshake resume resume-tls12 resume-tls12-ids rate idle oha-keepalive oha-keepalive-h2 oha-keepalive-log oha-handshake"}
SERVERS=${SERVERS:-"gateway nginx nginx-ka haproxy"}
SERVER_KEY=${SERVER_KEY:-ecdsa}
BACKEND=${BACKEND:-static}
OHA=${OHA:-1}
KEEP=${KEEP:-0}

BACKEND_PORT=28080
declare -A PORT=([gateway]=23443 [gateway-json]=23443 [nginx]=23444 [nginx-ka]=23445 [haproxy]=23446)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
need_apt=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v ps >/dev/null || need_apt+=(procps)
if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}: run as root (or install them) first"
    log "installing ${need_apt[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:$HOME/.cargo/bin"
if [ "$OHA" = 1 ] && ! command -v oha >/dev/null; then
    log "installing oha with cargo install oha --locked (a few minutes)"
    cargo install oha --locked >/dev/null 2>&1 || { log "oha could not be installed; skipping the oha-* modes"; OHA=0; }
fi
if [ "$OHA" != 1 ]; then
    kept=""
    for mode in $MODES; do case "$mode" in oha-*) ;; *) kept="$kept $mode" ;; esac; done
    MODES=$kept
fi

log "building the gateway and mtls-bench (release)"
(cd "$ROOT" && cargo build --release --workspace --bins >/dev/null 2>&1) || (cd "$ROOT" && cargo build --release --workspace --bins)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GATEWAY=${GATEWAY_BIN:-$TARGET_DIR/release/mtls-gateway}   # GATEWAY_BIN=path measures another build
BENCH=$TARGET_DIR/release/mtls-bench
ECHO=$TARGET_DIR/release/echo-backend

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Connections each server may hold: a proxied connection takes two descriptors.
MAXCONN=$(( $(ulimit -n) / 2 - 100 ))
[ "$IDLE_CONNS" -lt "$MAXCONN" ] || IDLE_CONNS=$((MAXCONN - 100))

WORK=$(mktemp -d /tmp/mtls-compare.XXXXXX)
chmod 755 "$WORK"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

# ---------------------------------------------------------------- processes
STARTED=()   # every PID this script started
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then log "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$PIN" = 1 ]; then
    [ "$(nproc)" -ge 2 ] || die "PIN=1 needs two CPUs"
    SERVER_CPU=(taskset -c 1)
    CLIENT_CPU=(taskset -c 0)
    WORKERS=1
    BENCH_THREADS=1
else
    SERVER_CPU=()
    CLIENT_CPU=()
    WORKERS=$(nproc)
    BENCH_THREADS=$(nproc)
fi

wait_port() {   # port, pid
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- PKI (openssl CLI)
log "generating the PKI in $WORK"
(
    cd "$WORK"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 30 -out ca.crt \
        -subj "/C=RU/O=Example/CN=Bench mTLS Root CA" 2>/dev/null
    cp ca.crt ca-bundle.crt
    if [ "$SERVER_KEY" = rsa2048 ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server-key.pem 2>/dev/null
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-key.pem 2>/dev/null
    fi
    openssl req -new -key server-key.pem -subj "/C=RU/O=Example/CN=local.trusted.com" -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:local.trusted.com,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 0x2001 -days 30 -sha256 \
        -extfile server.ext -out server.crt 2>/dev/null
    cat server.crt ca.crt >server-chain.pem
    cat server-chain.pem server-key.pem >haproxy-server.pem
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client-key.pem 2>/dev/null
    openssl req -new -key client-key.pem -out client.csr \
        -subj "/C=RU/O=Example/OU=Dev/CN=alice/emailAddress=alice@example.com" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 0x3001 -days 30 -sha256 \
        -extfile client.ext -out client.pem 2>/dev/null
    chmod 644 ./*
)

# ---------------------------------------------------------------- configurations
# $1 = sessions: "seed" (cache and tickets as the seed) or "off" (no cache, no tickets)
# $2 = access log: off, combined or json (to a file)
gateway_conf() {
    local cache=40000 tickets=true access_log='access_log = "off"'
    if [ "$1" = off ]; then cache=0; tickets=false; fi
    if [ "${2:-off}" != off ]; then
        access_log="access_log = \"$WORK/gateway-access.log\"
access_log_format = \"$2\""
    fi
    cat >"$WORK/gateway.toml" <<EOF
# The seed's server block (config/gateway.toml), on loopback.
$access_log
max_connections = $MAXCONN

[[server]]
listen = ["127.0.0.1:${PORT[gateway]}"]
server_name = ["local.trusted.com", "localhost"]

[server.tls]
certificate = "server-chain.pem"
certificate_key = "server-key.pem"
protocols = ["TLSv1.2", "TLSv1.3"]
session_timeout = "10m"
session_cache = $cache
session_tickets = $tickets

[server.client_auth]
verify_client = "on"
client_certificate = "ca-bundle.crt"
verify_depth = 3

[[server.location]]
prefix = "/"
return = { status = 404, text = "mTLS endpoints only. Use port 443 for regular access." }

[[server.location]]
prefix = "/api/mtls"
proxy_pass = "http://backend"

[server.location.proxy_set_header]
Host = "\$host"
X-Real-IP = "\$remote_addr"
X-Forwarded-For = "\$proxy_add_x_forwarded_for"
X-Forwarded-Proto = "\$scheme"
X-SSL-Client-Verify = "\$ssl_client_verify"
X-SSL-Client-DN = "\$ssl_client_s_dn"
X-SSL-Client-Serial = "\$ssl_client_serial"
X-SSL-Client-Fingerprint = "\$ssl_client_fingerprint"
X-SSL-Client-Issuer = "\$ssl_client_i_dn"

[upstream.backend]
server = ["127.0.0.1:$BACKEND_PORT"]
EOF
}

# $1 = variant (nginx | nginx-ka), $2 = sessions (seed | off), $3 = access log (off | combined)
nginx_conf() {
    local upstream_ka="" location_ka="" sessions access_log="access_log off;"
    if [ "${3:-off}" != off ]; then access_log="access_log $WORK/$1/access.log combined;"; fi
    if [ "$1" = nginx-ka ]; then
        upstream_ka="keepalive 64;"
        location_ka='proxy_http_version 1.1;
            proxy_set_header Connection "";'
    fi
    if [ "$2" = off ]; then
        sessions='ssl_session_cache off;
        ssl_session_tickets off;
        ssl_conf_command NumTickets 0;'
    else
        sessions='ssl_session_cache shared:SSL:10m;'
    fi
    mkdir -p "$WORK/$1/logs"
    cat >"$WORK/$1/nginx.conf" <<EOF
worker_processes $WORKERS;
worker_rlimit_nofile $(ulimit -n);
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
events { worker_connections $MAXCONN; }
http {
    $access_log
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        $upstream_ka
    }
    # The seed's nginx server block (config/gateway.toml is its translation), as written but for
    # the loopback address, the paths, http2 on the listen line (used only by
    # clients that offer h2) and the session lines of full-handshake runs.
    server {
        server_name local.trusted.com;
        listen 127.0.0.1:${PORT[$1]} ssl http2;

        ssl_certificate         $WORK/server-chain.pem;
        ssl_certificate_key     $WORK/server-key.pem;

        ssl_client_certificate  $WORK/ca-bundle.crt;
        ssl_verify_client on;
        ssl_verify_depth 3;

        ssl_session_timeout 10m;
        $sessions
        ssl_protocols TLSv1.2 TLSv1.3;

        location / {
            return 404 "mTLS endpoints only. Use port 443 for regular access.";
        }

        location /api/mtls {
            proxy_set_header Host \$host;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;

            proxy_set_header X-SSL-Client-Verify \$ssl_client_verify;
            proxy_set_header X-SSL-Client-DN \$ssl_client_s_dn;
            proxy_set_header X-SSL-Client-Serial \$ssl_client_serial;
            proxy_set_header X-SSL-Client-Fingerprint \$ssl_client_fingerprint;
            proxy_set_header X-SSL-Client-Issuer \$ssl_client_i_dn;
            $location_ka

            proxy_pass http://backend;
            proxy_redirect off;
        }
    }
}
EOF
}

# $1 = sessions (seed | off)
haproxy_conf() {
    local cache="" tickets=""
    if [ "$1" = off ]; then
        cache="tune.ssl.cachesize 0"
        tickets="no-tls-tickets"
    fi
    cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    maxconn $MAXCONN
    $cache

defaults
    mode http
    timeout connect 5s
    timeout client 75s
    timeout server 60s
    timeout http-keep-alive 75s
    timeout http-request 60s

frontend mtls
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $WORK/haproxy-server.pem ca-file $WORK/ca-bundle.crt verify required ssl-min-ver TLSv1.2 alpn h2,http/1.1 $tickets
    # The seed's headers: client copies are removed, then set from the handshake.
    http-request del-header X-SSL-Client-Verify
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-For %[req.hdr(X-Forwarded-For)],\ %[src] if { req.hdr(X-Forwarded-For) -m found }
    http-request set-header X-Forwarded-For %[src] unless { req.hdr(X-Forwarded-For) -m found }
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-SSL-Client-Verify SUCCESS if { ssl_c_verify 0 }
    http-request set-header X-SSL-Client-DN %[ssl_c_s_dn(,0,rfc2253)]
    http-request set-header X-SSL-Client-Serial %[ssl_c_serial,hex]
    http-request set-header X-SSL-Client-Fingerprint %[ssl_c_sha1,hex,lower]
    http-request set-header X-SSL-Client-Issuer %[ssl_c_i_dn(,0,rfc2253)]
    http-request return status 404 content-type text/plain string "mTLS endpoints only. Use port 443 for regular access." unless { path_beg /api/mtls }
    default_backend backend

backend backend
    http-reuse always
    server s1 127.0.0.1:$BACKEND_PORT
EOF
}

# ---------------------------------------------------------------- servers
SERVER_PID=""
server_pids() {   # the PIDs whose CPU and memory count: the server and its children
    local pid=$SERVER_PID
    echo "$pid"
    ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' || true
}

start_server() {   # $1 = server, $2 = sessions (seed | off), $3 = access log (off | on)
    local access_log=${3:-off}
    case "$1" in
        gateway | gateway-json)
            if [ "$access_log" = on ]; then
                access_log=combined
                [ "$1" = gateway-json ] && access_log=json
            fi
            gateway_conf "$2" "$access_log"
            "${SERVER_CPU[@]}" "$GATEWAY" run --config "$WORK/gateway.toml" >"$WORK/gateway.log" 2>&1 &
            ;;
        nginx | nginx-ka)
            [ "$access_log" = on ] && access_log=combined
            nginx_conf "$1" "$2" "$access_log"
            "${SERVER_CPU[@]}" nginx -p "$WORK/$1" -c "$WORK/$1/nginx.conf" -g 'daemon off;' >"$WORK/$1/stdout.log" 2>&1 &
            ;;
        haproxy)
            haproxy_conf "$2"
            "${SERVER_CPU[@]}" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    wait_port "${PORT[$1]}" "$SERVER_PID" || die "$1 did not start (see $WORK)"
    sleep 0.3   # workers forked and ready
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    # Access logs of the *-log modes: their size is not measured, only their cost.
    rm -f "$WORK/gateway-access.log" "$WORK"/nginx*/access.log
}

# ---------------------------------------------------------------- backend
if [ "$BACKEND" = echo ]; then
    "${CLIENT_CPU[@]}" "$ECHO" --listen "127.0.0.1:$BACKEND_PORT" >"$WORK/backend.log" 2>/dev/null &
else
    "${CLIENT_CPU[@]}" "$BENCH" backend --listen "127.0.0.1:$BACKEND_PORT" --threads 1 \
        --require-header "X-SSL-Client-Verify: SUCCESS" >"$WORK/backend.log" 2>&1 &
fi
BACKEND_PID=$!
STARTED+=("$BACKEND_PID")
wait_port "$BACKEND_PORT" "$BACKEND_PID" || die "backend did not start"

# ---------------------------------------------------------------- runs
CLIENT=(--cert "$WORK/client.pem" --key "$WORK/client-key.pem" --insecure --threads "$BENCH_THREADS")

bench() {   # $1 = server, $2 = mode name, $3 = run, rest = mtls-bench arguments
    local server=$1 name=$2 run=$3
    shift 3
    local pids=() p
    for p in $(server_pids); do pids+=(--server-pid "$p"); done
    local out
    if ! out=$("${CLIENT_CPU[@]}" "$BENCH" "$@" "${CLIENT[@]}" "${pids[@]}" --json \
        --label "$server" 2>"$WORK/bench.err"); then
        log "  $server $name run $run: mtls-bench failed: $(tail -c 300 "$WORK/bench.err") $out"
        [ -n "$out" ] || return 0
    fi
    printf '%s\n' "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
r["server_name"], r["mode_name"], r["run"] = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(json.dumps(r))' "$server" "$name" "$run" >>"$RESULTS"
    python3 -c '
import json, sys
r = json.loads(sys.argv[1]); s = r.get("server", {}); l = r["latency_us"]
extra = ""
if r["mode"] == "idle":
    i = r["idle"]; extra = "held %d, %.1f KiB/conn" % (i["held"], i["rss_per_connection_kib"])
print("  %-12s %-17s run %s: %9.1f req/s  p99 %6d us  errors %d  cpu %.2f/core  %s" % (
    sys.argv[2], sys.argv[3], sys.argv[4], r["requests_per_s"], l["p99"], r["errors"],
    s.get("cpu_utilisation", 0), extra))' "$out" "$server" "$name" "$run" >&2
}

ticks() {   # CPU ticks of the given PIDs
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

oha_bench() {   # $1 = server, $2 = mode name, $3 = run, rest = oha arguments
    local server=$1 name=$2 run=$3
    shift 3
    local pids t0 t1 out
    pids=$(server_pids)
    t0=$(ticks $pids)
    out=$("${CLIENT_CPU[@]}" oha -z "${DURATION}s" "$@" --no-tui --output-format json --insecure \
        --cert "$WORK/client.pem" --key "$WORK/client-key.pem" "https://127.0.0.1:${PORT[$server]}/api/mtls" 2>"$WORK/oha.err" || true)
    t1=$(ticks $pids)
    python3 -c '
import json, sys
try:
    o = json.loads(sys.argv[1])
except Exception:
    sys.exit(0)
s = o.get("summary", {})
codes = o.get("statusCodeDistribution", {})
ok = int(codes.get("200", 0))
cpu = (int(sys.argv[6]) - int(sys.argv[5])) / float(sys.argv[7])
secs = float(sys.argv[8])
print(json.dumps({"server_name": sys.argv[2], "mode_name": sys.argv[3], "run": int(sys.argv[4]),
    "requests_per_s": round(ok / secs, 1), "errors": sum(int(v) for k, v in codes.items() if k != "200"),
    "success_rate": s.get("successRate"), "latency_us": {"p99": round(1e6 * (o.get("latencyPercentiles", {}).get("p99") or 0))},
    "server": {"cpu_s": round(cpu, 3), "cpu_s_per_10k_requests": round(cpu * 1e4 / ok, 4) if ok else 0,
               "cpu_utilisation": round(cpu / secs, 3)}}))' \
        "$out" "$server" "$name" "$run" "$t0" "$t1" "$(getconf CLK_TCK)" "$DURATION" >>"$RESULTS"
    python3 -c '
import json, sys
r = json.loads(sys.argv[1]); s = r["server"]
print("  %-12s %-17s run %s: %9.1f req/s  p99 %6d us  errors %d  cpu %.2f/core  %.3f s/10k req" % (
    sys.argv[2], sys.argv[3], sys.argv[4], r["requests_per_s"], r["latency_us"]["p99"], r["errors"],
    s["cpu_utilisation"], s["cpu_s_per_10k_requests"]))' "$(tail -n1 "$RESULTS")" "$server" "$name" "$run" >&2 ||
        log "  $server $name run $run: oha gave no result: $(tail -c 300 "$WORK/oha.err")"
}

run_mode() {   # $1 = mode, $2 = server, $3 = run
    local mode=$1 server=$2 run=$3 port=${PORT[$2]}
    local url="https://localhost:$port/api/mtls"
    local d="${DURATION}s"
    case "$mode" in
        keepalive)
            start_server "$server" seed
            bench "$server" "$mode" "$run" keepalive "$url" -c "$CONNS" -d "$d"
            ;;
        keepalive-h2)
            start_server "$server" seed
            bench "$server" "$mode" "$run" keepalive "$url" -c 4 --http2 --streams $((CONNS / 4)) -d "$d"
            ;;
        keepalive-log)
            start_server "$server" seed on
            bench "$server" "$mode" "$run" keepalive "$url" -c "$CONNS" -d "$d"
            ;;
        keepalive-h2-log)
            start_server "$server" seed on
            bench "$server" "$mode" "$run" keepalive "$url" -c 4 --http2 --streams $((CONNS / 4)) -d "$d"
            ;;
        handshake)
            start_server "$server" off
            bench "$server" "$mode" "$run" handshake "$url" -c "$HS_CONNS" -d "$d"
            ;;
        resume)
            start_server "$server" seed
            bench "$server" "$mode" "$run" resume "$url" -c "$HS_CONNS" -d "$d" --tls 1.3
            ;;
        resume-tls12)
            start_server "$server" seed
            bench "$server" "$mode" "$run" resume "$url" -c "$HS_CONNS" -d "$d" --tls 1.2 --resume-by tickets
            ;;
        resume-tls12-ids)
            start_server "$server" seed
            bench "$server" "$mode" "$run" resume "$url" -c "$HS_CONNS" -d "$d" --tls 1.2 --resume-by ids
            ;;
        rate)
            start_server "$server" seed
            bench "$server" "$mode" "$run" keepalive "$url" -c "$CONNS" -d "$d" --rate "$RATE"
            ;;
        idle)
            start_server "$server" seed
            bench "$server" "$mode" "$run" idle "$url" -c "$IDLE_CONNS" -d "${IDLE_HOLD}s"
            ;;
        oha-keepalive)
            start_server "$server" seed
            oha_bench "$server" "$mode" "$run" -c "$CONNS"
            ;;
        oha-keepalive-h2)
            start_server "$server" seed
            oha_bench "$server" "$mode" "$run" --http2 -c 4 -p $((CONNS / 4))
            ;;
        oha-keepalive-log)
            start_server "$server" seed on
            oha_bench "$server" "$mode" "$run" -c "$CONNS"
            ;;
        oha-handshake)
            # oha resumes sessions when a server allows it: sessions off, as in `handshake`.
            start_server "$server" off
            oha_bench "$server" "$mode" "$run" -c "$HS_CONNS" --disable-keepalive
            ;;
    esac
    stop_server
}

rotate() {   # $1 = offset, rest = items: the items rotated left by offset
    local k=$1
    shift
    local items=("$@") n=$# i
    for ((i = 0; i < n; i++)); do printf '%s ' "${items[$(((i + k) % n))]}"; done
}

mode_servers() {   # $1 = mode: the servers it runs (the *-log modes: no HAProxy, plus gateway-json)
    local s
    for s in "${SERVER_LIST[@]}"; do
        case "$1" in
            *-log)
                [ "$s" = haproxy ] && continue
                printf '%s ' "$s"
                [ "$s" = gateway ] && printf 'gateway-json '
                ;;
            *) printf '%s ' "$s" ;;
        esac
    done
}

item_seconds() {   # $1 = mode: a run's expected length, start and stop included
    case "$1" in
        idle) echo $((IDLE_HOLD + 12)) ;;
        *) echo $((DURATION + 2)) ;;
    esac
}

log "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load_before $(cut -d' ' -f1-3 /proc/loadavg)" >"$WORK/load.txt"
read -r -a SERVER_LIST <<<"$SERVERS"
# Progress: runs done and to do, and a time estimate from the runs so far.
TOTAL_ITEMS=0
TOTAL_SECONDS=0
for mode in $MODES; do
    n=$(($(mode_servers "$mode" | wc -w) * RUNS))
    TOTAL_ITEMS=$((TOTAL_ITEMS + n))
    TOTAL_SECONDS=$((TOTAL_SECONDS + n * $(item_seconds "$mode")))
done
DONE_ITEMS=0
DONE_EXPECTED=0
STARTED_AT=$(date +%s)
progress() {   # $1 = mode, $2 = run, $3 = server
    local elapsed left
    elapsed=$(($(date +%s) - STARTED_AT))
    left=$((TOTAL_SECONDS - DONE_EXPECTED))
    # Scale the estimate by how long the runs so far really took.
    [ "$DONE_EXPECTED" -gt 0 ] && left=$((left * elapsed / DONE_EXPECTED))
    log "[$((DONE_ITEMS + 1))/$TOTAL_ITEMS] $1, run $2 of $RUNS, $3 (PIN=$PIN); about $((left / 60)) min $((left % 60)) s left"
}
log "$TOTAL_ITEMS runs planned (modes: $(echo $MODES)), about $((TOTAL_SECONDS / 60)) min"
RATE=""
for mode in $MODES; do
    if [ "$mode" = rate ]; then
        RATE=$(python3 -c '
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
v = [r["requests_per_s"] for r in rs if r["mode_name"] == "keepalive" and r["server_name"] == "nginx"]
print(round(statistics.median(v) / 2) if v else "")' "$RESULTS")
        if [ -z "$RATE" ]; then
            log "rate mode needs the keepalive runs of nginx first; skipped"
            n=$(($(mode_servers "$mode" | wc -w) * RUNS))
            TOTAL_ITEMS=$((TOTAL_ITEMS - n))
            TOTAL_SECONDS=$((TOTAL_SECONDS - n * $(item_seconds "$mode")))
            continue
        fi
        log "rate: half of nginx's median keep-alive maximum = $RATE req/s"
    fi
    read -r -a servers <<<"$(mode_servers "$mode")"
    for run in $(seq 1 "$RUNS"); do
        for server in $(rotate "$((run - 1))" "${servers[@]}"); do
            progress "$mode" "$run" "$server"
            run_mode "$mode" "$server" "$run"
            DONE_ITEMS=$((DONE_ITEMS + 1))
            DONE_EXPECTED=$((DONE_EXPECTED + $(item_seconds "$mode")))
        done
    done
done

echo "load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/load.txt"

# ---------------------------------------------------------------- table
python3 "$ROOT/benches/compare-table.py" "$RESULTS" "$WORK/load.txt" \
    "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(haproxy -v 2>/dev/null | head -1 | awk '{print "HAProxy " $3}'), $(openssl version | awk '{print "OpenSSL " $2}'), mtls-gateway $("$GATEWAY" --version 2>/dev/null | awk '{print $2}'), PIN=$PIN, key=$SERVER_KEY, backend=$BACKEND, runs=$RUNS x ${DURATION}s"
CHARTS=${CHARTS-bench-charts}
if [ -n "$CHARTS" ] && python3 "$ROOT/benches/charts.py" "$RESULTS" "$CHARTS" \
    "PIN=$PIN, $(date -u +%Y-%m-%d)" >/dev/null; then
    log "charts: $(cd "$CHARTS" && pwd)/{requests_per_s,cpu_per_request,latency}.svg"
fi
if [ "$KEEP" = 1 ]; then cp "$RESULTS" "${RESULTS_COPY:-/dev/null}" 2>/dev/null || true; fi
