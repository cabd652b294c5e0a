#!/usr/bin/env bash
# Runs the fault campaign (tests/chaos) against an already built coffer binary, in the SDK suite's virtualenv
# (it reuses that suite's signer and server helpers).
#
#   COFFER_BIN=/path/to/coffer tests/chaos/run.sh [extra pytest args]
#   COFFER_CHAOS_SEED=N COFFER_CHAOS_ROUNDS=R   another campaign (defaults: 20261130, 22 rounds)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[[ -x "${COFFER_BIN:-}" ]] || { echo "run.sh: COFFER_BIN must name a built coffer binary" >&2; exit 2; }
COFFER_BIN="$(cd "$(dirname "${COFFER_BIN}")" && pwd)/$(basename "${COFFER_BIN}")"
VENV="${COFFER_VENV:-${ROOT}/.venv}"
if [[ ! -x "${VENV}/bin/python" ]]; then
    python3 -m venv "${VENV}"
fi
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${ROOT}/tests/sdk/requirements.txt"
cd "${ROOT}"
export COFFER_BIN PATH="$PATH:/usr/sbin"
exec "${VENV}/bin/python" -m pytest -q -s -p no:cacheprovider tests/chaos "$@"
