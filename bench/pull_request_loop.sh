#!/bin/bash
# The pull-request job's steps for a train-only change, timed: a fresh clone of a checkout
# whose outputs and run-cache are in its default (local) remote; the job's own commands.
# Usage: bench/pull_request_loop.sh SOURCE_CHECKOUT WORK_DIR   (SOURCE has .venv; run
# `dvc push --run-cache` there first). WORK_DIR must sit beside SOURCE, so that the
# remote's relative URL (../../dvc-storage) points at the same storage.
set -euo pipefail
source_checkout=$(realpath "$1"); work=$(realpath -m "$2")
rm -rf "$work" && git clone -q "$source_checkout" "$work" && cd "$work"
ln -s "$source_checkout/.venv" .venv && export PATH=$PWD/.venv/bin:$PATH
logs=$work/.dvc/tmp/loop && mkdir -p "$logs"
BASE_SHA=$(git rev-parse HEAD)
git checkout -q -b feature
python - <<'PY'
from dvc.utils.hydra import apply_overrides
apply_overrides("params.yaml", ["train.hist_gradient_boosting.l2_regularization=2.0"])
PY
git -c user.name=t -c user.email=t@e commit -qam "stronger regularisation"
start=$(date +%s.%N)
git checkout "$BASE_SHA" -- dvc.yaml dvc.lock
dvc fetch data/predictions data/seeds
git checkout HEAD -- dvc.yaml dvc.lock
t1=$(date +%s.%N)
dvc repro --pull --allow-missing 2>&1 | tee "$logs/repro.log"
dvc pull --allow-missing data/predictions data/seeds
t2=$(date +%s.%N)
python -m src.review.report --base "$BASE_SHA" --repro-log "$logs/repro.log" --out reports/report.md --text-out "$logs/text.md" --pictures-at "in the artifact." --gate-result "$logs/gate.json"
t3=$(date +%s.%N)
python -m src.review.gate --base "$BASE_SHA" --result "$logs/gate.json" || echo "gate exit $?"
t4=$(date +%s.%N)
python - "$start" "$t1" "$t2" "$t3" "$t4" <<'PY'
import sys
s, a, b, c, d = map(float, sys.argv[1:])
print(f"fetch base scores {a-s:.1f} s; repro+pull {b-a:.1f} s; report {c-b:.1f} s; gate {d-c:.1f} s; total {d-s:.1f} s")
PY
