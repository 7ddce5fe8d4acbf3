#!/usr/bin/env bash
# Runs schemathesis against a live daemon and the OpenAPI document it serves: a simulated
# exchange on 127.0.0.1 feeds the daemon (embedded store in a scratch directory), and every
# operation is exercised with generated requests. Checks: no 5xx, every status documented,
# every response matching its schema, content types and headers as documented.
#
# Usage: tests/schemathesis/run.sh [path/to/wadm]   (default: target/debug/wadm)
set -euo pipefail
cd "$(dirname "$0")/../.."
WADM="${1:-target/debug/wadm}"
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
# Generated traffic is far above any sane client's: the limit is not what is tested here.
export WADM__API__REQUESTS_PER_MINUTE=60000000
export WADM__API__BURST=1000000
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

# Ready when /health says every feed is up (a deadline, not a sleep).
python3 - "$API_PORT" <<'PY'
import json, sys, time, urllib.request, urllib.error
port = sys.argv[1]
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            if json.load(r).get("status") == "ok":
                break
    except (urllib.error.URLError, ConnectionError, ValueError):
        pass
    if time.monotonic() > deadline:
        sys.exit("the daemon did not become healthy within 60 s")
    time.sleep(0.2)
PY

# pip may put the script outside PATH (user or venv installs): ask Python where it went.
SCHEMATHESIS="$(command -v schemathesis || true)"
if [ -z "$SCHEMATHESIS" ]; then
    SCHEMATHESIS="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/schemathesis"
fi
status=0
"$SCHEMATHESIS" run "http://127.0.0.1:${API_PORT}/api/v1/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples 50 \
    --seed 1 \
    --no-color || status=$?
if [ "$status" -ne 0 ]; then
    echo "== daemon log (tail)"
    tail -n 50 "${SCRATCH}/daemon.log"
fi
exit "$status"
