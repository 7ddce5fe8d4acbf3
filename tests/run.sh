#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing, then runs the whole suite
# (every test of the workspace, then the API against its OpenAPI document).
#
#   tests/run.sh [-- <cargo test arguments>]   set up what is missing, then run everything
#   tests/run.sh setup                         set up only; says what it installed, or nothing
#   tests/run.sh check                         exit 1 if the setup would install anything
#
# What it installs when missing:
#   - Debian packages (as root, or with password-less sudo; otherwise it names them and
#     stops): python3 and python3-venv (the Python test tools), prometheus (promtool and
#     Prometheus for tests/deploy.rs), systemd (systemd-analyze for tests/deploy.rs),
#     chromium and chromium-driver (the web page's test, tests/page.rs).
#   - PyPI packages, pinned in tests/*/requirements.txt, into a project-local virtual
#     environment, target/test-venv (WADM_TEST_VENV overrides), which the tests find. It is
#     rebuilt when a requirements file changes.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${WADM_TEST_VENV:-target/test-venv}"
REQUIREMENTS=(
    tests/mongo_standin/requirements.txt
    tests/schemathesis/requirements.txt
    tests/mcp/requirements.txt
    tests/page/requirements.txt
)
STAMP="$VENV/.requirements.sha256"

# The Debian packages missing, one per line.
missing_packages() {
    if ! command -v python3 >/dev/null; then
        echo python3
        echo python3-venv
    elif ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        echo python3-venv
    fi
    if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
        echo prometheus
    fi
    command -v systemd-analyze >/dev/null || echo systemd
    command -v chromium >/dev/null || echo chromium
    command -v chromedriver >/dev/null || echo chromium-driver
}

requirements_hash() {
    cat "${REQUIREMENTS[@]}" | sha256sum | cut -d' ' -f1
}

venv_current() {
    [ -x "$VENV/bin/python3" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(requirements_hash)" ]
}

install_packages() {
    local packages=("$@")
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        else
            echo "tests/run.sh: the tests need these Debian packages: ${packages[*]}" >&2
            echo "install them as root, then run tests/run.sh again:" >&2
            echo "    apt-get install --no-install-recommends ${packages[*]}" >&2
            exit 2
        fi
    fi
    echo "== installing Debian packages: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
}

install_venv() {
    echo "== creating the test virtual environment $VENV (PyPI: ${REQUIREMENTS[*]})"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check --upgrade pip
    for requirements in "${REQUIREMENTS[@]}"; do
        "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    done
    "$VENV/bin/python3" -c 'import mockupdb, mongomock, pymongo, schemathesis, yaml, mcp.client.stdio, selenium'
    requirements_hash >"$STAMP"
}

setup() {
    local installed=0
    mapfile -t packages < <(missing_packages)
    if [ "${#packages[@]}" -gt 0 ]; then
        install_packages "${packages[@]}"
        installed=1
    fi
    if ! venv_current; then
        install_venv
        installed=1
    fi
    if [ "$installed" -eq 0 ]; then
        echo "== test setup: nothing to install"
    fi
}

check() {
    local missing=0
    mapfile -t packages < <(missing_packages)
    if [ "${#packages[@]}" -gt 0 ]; then
        echo "test setup: Debian packages missing: ${packages[*]}"
        missing=1
    fi
    if ! venv_current; then
        echo "test setup: $VENV is missing or older than the requirements files"
        missing=1
    fi
    if [ "$missing" -eq 0 ]; then
        echo "== test setup: complete, a second run installs nothing"
    fi
    return "$missing"
}

case "${1:-}" in
    setup) setup; exit 0 ;;
    check) check; exit $? ;;
    --) shift ;;
    "") ;;
    *) echo "usage: tests/run.sh [setup | check | -- <cargo test arguments>]" >&2; exit 2 ;;
esac

setup
# The tests and the scripts they run find the environment's python3 and schemathesis first.
VENV_ABS="$(cd "$VENV" && pwd)"
export PATH="$VENV_ABS/bin:$PATH"
export WADM_TEST_PYTHON="$VENV_ABS/bin/python3"

status=0
echo "== cargo test --workspace --no-fail-fast $*"
cargo test --workspace --no-fail-fast "$@" || status=$?
echo "== the API against its OpenAPI document (schemathesis, live daemon + simulated exchange)"
tests/schemathesis/run.sh "${CARGO_TARGET_DIR:-target}/debug/wadm" || status=$?
if [ "$status" -eq 0 ]; then
    echo "== every test passed"
else
    echo "== some tests failed (see above)"
fi
exit "$status"
