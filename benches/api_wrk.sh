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
export WADM__LOG__LEVEL=warn
# shellcheck source=../tests/support/live_daemon.sh
. tests/support/live_daemon.sh

trades() {
    python3 - "$API_PORT" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v1/symbols", timeout=5) as r:
    print(sum(v["trades"] for s in json.load(r)["symbols"] for v in s["venues"]))
PY
}
before="$(trades)"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency \
    "http://127.0.0.1:${API_PORT}/api/v1/volume-profile/BTCUSDT?${QUERY}"
after="$(trades)"
echo "trades ingested during the run: $((after - before)) ($(( (after - before) / SECONDS_RUN ))/s)"
grep -c " ERROR " "${SCRATCH}/daemon.log" | sed 's/^/daemon errors logged: /' || true
