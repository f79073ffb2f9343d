#!/usr/bin/env bash
# The test suite: `bash scripts/test.sh` runs the default (fast) suite; extra arguments go to
# pytest, e.g. `bash scripts/test.sh -m large` for the slow tests. pytest's exit code 5
# (no tests collected) is passed through, so it fails CI.
EXTRAS="cpu,test"
source "$(dirname "$0")/_venv.sh"
if [ "$#" -eq 0 ]; then set -- -m "not large"; fi
exec "$VENV/bin/python" -m pytest -q "$@"
