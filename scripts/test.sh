#!/usr/bin/env bash
# The test suite: `bash scripts/test.sh` runs the default (fast) suite on one pytest worker per
# CPU core (pytest-xdist: most of a test's time is single-threaded Python tracing, so two
# workers on two cores roughly halve the wall time). Extra arguments replace those
# defaults and go to pytest, e.g. `bash scripts/test.sh -m large` for the slow tests (one
# worker: they start processes and strategies of their own). pytest's exit code 5 (no tests
# collected) is passed through, so it fails CI.
EXTRAS="cpu,test"
source "$(dirname "$0")/_venv.sh"
if [ "$#" -eq 0 ]; then set -- -m "not large" -n auto --dist loadfile; fi
exec "$VENV/bin/python" -m pytest -q "$@"
