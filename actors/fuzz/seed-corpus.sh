#!/usr/bin/env bash
# Seeds each fuzz target's corpus with the documented fixture frames.
set -euo pipefail
cd "$(dirname "$0")"
seed() {
  local target=$1 fixtures=$2 prefix=${3:-}
  mkdir -p "corpus/$target"
  python3 - "$fixtures" "corpus/$target" "$prefix" <<'PY'
import json, sys, pathlib
fixtures, out, prefix = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
for i, line in enumerate(open(fixtures)):
    if line.strip():
        frame = json.loads(line)["frame"]
        (out / f"fixture-{i}").write_bytes(prefix.encode() + frame.encode())
PY
}
seed binance_spot ../../tests/fixtures/binance-spot.jsonl
seed binance_usdm ../../tests/fixtures/binance-usdm.jsonl
seed bybit ../../tests/fixtures/bybit.jsonl 0
