#!/usr/bin/env bash
# API benchmark: wrk against /api/v1/volume-profile/{symbol} while the daemon ingests from the
# simulated exchange (four venues, the default symbols, real-time pace), embedded store on.
# Prints wrk's report (requests/s, latency percentiles) and what the daemon ingested meanwhile.
#
# Usage: benches/api_wrk.sh [seconds] [connections] [query]
#   defaults: 20 s, 16 connections, "window=24h"
# Needs wrk (Debian package `wrk`) and a release build (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN="${1:-20}"
CONNECTIONS="${2:-16}"
QUERY="${3:-window=24h}"
WADM=target/release/wadm
[ -x "$WADM" ] || { echo "build first: cargo build --release"; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
SCRATCH="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
SIM_PORT="$(free_port)"
API_PORT="$(free_port)"
export COLLECTORS_ENABLED=binance_spot,binance_usdm,bybit_spot,bybit_linear
export WADM__API__BIND="127.0.0.1:${API_PORT}"
export WADM__STORAGE__EMBEDDED__PATH="${SCRATCH}/data"
export WADM__API__REQUESTS_PER_MINUTE=60000000
export WADM__API__BURST=1000000
export WADM__LOG__LEVEL=warn
for venue in BINANCE_SPOT BINANCE_USDM; do
    export "WADM__VENUES__${venue}__WS_URL=ws://127.0.0.1:${SIM_PORT}"
    export "WADM__VENUES__${venue}__REST_URL=http://127.0.0.1:${SIM_PORT}"
done
export WADM__VENUES__BYBIT_SPOT__WS_URL="ws://127.0.0.1:${SIM_PORT}/v5/public/spot"
export WADM__VENUES__BYBIT_LINEAR__WS_URL="ws://127.0.0.1:${SIM_PORT}/v5/public/linear"
export WADM__VENUES__BYBIT_SPOT__REST_URL="http://127.0.0.1:${SIM_PORT}"
export WADM__VENUES__BYBIT_LINEAR__REST_URL="http://127.0.0.1:${SIM_PORT}"

"$WADM" simulate --port "$SIM_PORT" >"${SCRATCH}/simulator.log" 2>&1 &
PIDS+=($!)
"$WADM" run >"${SCRATCH}/daemon.log" 2>&1 &
PIDS+=($!)

trades() {
    python3 - "$API_PORT" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v1/symbols", timeout=5) as r:
    print(sum(v["trades"] for s in json.load(r)["symbols"] for v in s["venues"]))
PY
}
python3 - "$API_PORT" <<'PY'
import json, sys, time, urllib.request, urllib.error
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2) as r:
            if json.load(r).get("status") == "ok":
                break
    except (urllib.error.URLError, ConnectionError, ValueError):
        pass
    if time.monotonic() > deadline:
        sys.exit("the daemon did not become healthy within 60 s")
    time.sleep(0.2)
PY
before="$(trades)"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency \
    "http://127.0.0.1:${API_PORT}/api/v1/volume-profile/BTCUSDT?${QUERY}"
after="$(trades)"
echo "trades ingested during the run: $((after - before)) ($(( (after - before) / SECONDS_RUN ))/s)"
grep -c " ERROR " "${SCRATCH}/daemon.log" | sed 's/^/daemon errors logged: /' || true
