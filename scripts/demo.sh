#!/usr/bin/env bash
# The main job: pretrain SimCLR on the embedded Fashion-MNIST subset (offline, CPU), export the
# encoder, and print a linear-evaluation table (SimCLR vs random init vs raw pixels).
# Writes into ${WORKDIR:-runs/demo}; re-running resumes an interrupted run. Extra arguments go
# to the training command, e.g. `bash scripts/demo.sh --config.epochs=2`.
EXTRAS="cpu,demo"
source "$(dirname "$0")/_venv.sh"
WORKDIR="${WORKDIR:-runs/demo}"
exec "$VENV/bin/python" -m simclr_tf.train --config=tf_configs/demo.py --workdir="$WORKDIR" "$@"
