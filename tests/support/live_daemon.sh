# Sourced by tests/schemathesis/run.sh and benches/api_wrk.sh: starts `$WADM simulate` and
# `$WADM run` on free 127.0.0.1 ports (all four venues, embedded store in a scratch directory,
# no practical rate limit), waits until /health says ok (a deadline, not a sleep), and stops
# both on exit. Sets API_PORT and SCRATCH; the daemon's log is "$SCRATCH/daemon.log".
# Expects WADM (the binary) to be set; extra WADM__* variables may be exported before.

SCRATCH="$(mktemp -d)"
LIVE_PIDS=()
live_cleanup() {
    for pid in "${LIVE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$SCRATCH"
}
trap live_cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
SIM_PORT="$(free_port)"
API_PORT="$(free_port)"

export COLLECTORS_ENABLED=binance_spot,binance_usdm,bybit_spot,bybit_linear
export WADM__API__BIND="127.0.0.1:${API_PORT}"
export WADM__STORAGE__EMBEDDED__PATH="${SCRATCH}/data"
# Generated traffic is far above any sane client's: the limit is not what is measured here.
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
LIVE_PIDS+=($!)
"$WADM" run >"${SCRATCH}/daemon.log" 2>&1 &
LIVE_PIDS+=($!)

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
