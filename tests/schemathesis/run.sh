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
# shellcheck source=../support/live_daemon.sh
. tests/support/live_daemon.sh

# pip may put the script outside PATH (user or venv installs): ask Python where it went.
# tests/run.sh puts its virtual environment first on PATH; without it, use that environment
# when it exists.
if [ -x target/test-venv/bin/schemathesis ] && ! command -v schemathesis >/dev/null; then
    PATH="$(pwd)/target/test-venv/bin:$PATH"
fi
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
