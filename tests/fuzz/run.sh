#!/usr/bin/env bash
# Runs the bad-input campaign (tests/fuzz/campaign.py: schemathesis against the served OpenAPI document)
# against an already built coffer binary.
#
#   COFFER_BIN=/path/to/coffer tests/fuzz/run.sh [--max-examples N] [--seed S] [--keep] [-- schemathesis args]
#
# Uses the SDK suite's virtualenv (${COFFER_VENV:-<repo>/.venv}), creating it when missing, and installs
# tests/fuzz/requirements.txt into it (pip is a no-op when the pinned versions are there). It never builds Swift.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [[ -z "${COFFER_BIN:-}" || ! -x "${COFFER_BIN}" ]]; then
    echo "run.sh: COFFER_BIN must point at a built coffer binary (this script does not build Swift)" >&2
    exit 2
fi
COFFER_BIN="$(cd "$(dirname "${COFFER_BIN}")" && pwd)/$(basename "${COFFER_BIN}")"
if ! command -v redis-server >/dev/null 2>&1; then
    echo "run.sh: redis-server is not on PATH (Debian: apt-get install redis-server)" >&2
    exit 2
fi

VENV="${COFFER_VENV:-${ROOT}/.venv}"
if [[ ! -x "${VENV}/bin/python" ]]; then
    python3 -m venv "${VENV}"
fi
# Both files at once, so that pip keeps the SDK suite's pins and schemathesis's requirements consistent.
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "${ROOT}/tests/sdk/requirements.txt" -r "${ROOT}/tests/fuzz/requirements.txt"

cd "${ROOT}"
export COFFER_BIN
exec "${VENV}/bin/python" tests/fuzz/campaign.py "$@"
