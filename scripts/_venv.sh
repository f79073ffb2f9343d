# Sourced by the scripts in this folder: create or reuse .venv and install the package into it
# from setup.cfg with the extras given in $EXTRAS. pip re-checks every requirement on each run,
# so a venv missing a dependency is repaired instead of silently reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIMCLR_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "simclr_tf needs Python 3.10+, found " + sys.version.split()[0])'
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
echo "[setup] installing simclr_tf[$EXTRAS] into $VENV"
# pip's own exit status decides: a failed install must stop here, not leave an older install in
# a reused venv to run (and pass) instead. Its output is shown without one harmless warning.
status=0
out="$("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$EXTRAS]" 2>&1)" || status=$?
printf '%s\n' "$out" | grep -v -e "is ignored: it is neither a file nor a directory" -e '^$' || true
if [ "$status" -ne 0 ]; then
  echo "[setup] installing simclr_tf[$EXTRAS] into $VENV failed (pip exit status $status)" >&2
  exit "$status"
fi
"$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; exit 1; }
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
cd "$ROOT"
