#!/usr/bin/env bash
# Runs the SDK conformance suite (tests/sdk) against an already built coffer binary.
#
#   COFFER_BIN=/path/to/coffer tests/sdk/run.sh [extra pytest args]
#
# Creates a virtualenv at ${COFFER_VENV:-<repo>/.venv} when missing, installs tests/sdk/requirements.txt into it,
# then runs `pytest -q tests/sdk` from the repository root. It never builds Swift.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [[ -z "${COFFER_BIN:-}" ]]; then
    echo "run.sh: COFFER_BIN is not set; point it at a built coffer binary (this script does not build Swift)" >&2
    exit 2
fi
if [[ ! -x "${COFFER_BIN}" ]]; then
    echo "run.sh: COFFER_BIN=${COFFER_BIN} is not an executable file" >&2
    exit 2
fi
# Absolute, because the suite runs from the repository root.
COFFER_BIN="$(cd "$(dirname "${COFFER_BIN}")" && pwd)/$(basename "${COFFER_BIN}")"
if ! command -v redis-server >/dev/null 2>&1; then
    echo "run.sh: redis-server is not on PATH (Debian: apt-get install redis-server)" >&2
    exit 2
fi

VENV="${COFFER_VENV:-${ROOT}/.venv}"
if [[ ! -x "${VENV}/bin/python" ]]; then
    python3 -m venv "${VENV}"
fi
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${ROOT}/tests/sdk/requirements.txt"

cd "${ROOT}"
export COFFER_BIN
exec "${VENV}/bin/python" -m pytest -q tests/sdk "$@"
