#!/usr/bin/env bash
# Updates the vendored charting library: actors/src/api/ui/update-vendor.sh [version]
# Fetches lightweight-charts from the npm registry (npm pack checks the registry's integrity
# hash), copies its standalone production build and licence here, and records the version and
# hashes in vendor/VERSION. The page is served from the binary: rebuild afterwards.
set -euo pipefail
version="${1:-5.2.1}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "lightweight-charts@${version}" >/dev/null
tar xzf "lightweight-charts-${version}.tgz"
integrity="$(npm view "lightweight-charts@${version}" dist.integrity)"
cp package/dist/lightweight-charts.standalone.production.js "$here/vendor/"
cp package/LICENSE "$here/vendor/LICENSE-lightweight-charts"
sum="$(sha256sum "$here/vendor/lightweight-charts.standalone.production.js" | cut -d' ' -f1)"
cat > "$here/vendor/VERSION" <<INFO
lightweight-charts ${version} (npm), dist/lightweight-charts.standalone.production.js
npm integrity ${integrity}
sha256 of the vendored file ${sum}
INFO
echo "lightweight-charts ${version} vendored (sha256 ${sum})"
