"""Sorting a commit's outputs by where they came from, on hand-made locks and ``dvc status`` answers."""

from __future__ import annotations

import re
from pathlib import Path

from src import dvc
from src.remote.verification import (
    CORRUPT_IN_CACHE,
    FAILED_VERIFICATION,
    NOT_IN_REMOTE,
    Summary,
    changed_deps,
    changed_outputs,
    classify,
    explain_missing,
    format_summary,
    lock_mismatches,
    mark_rebuilt,
    stages_to_rebuild,
)

LOCK = {
    "schema": "2.0",
    "stages": {
        "ingest": {"cmd": "ingest", "outs": [{"path": "data/raw", "hash": "md5", "md5": "aa.dir"}]},
        "train": {
            "cmd": "train",
            "deps": [{"path": "data/raw", "md5": "aa.dir"}],
            "outs": [
                {"path": "models/model.pkl", "hash": "md5", "md5": "bb"},
                {"path": "metrics/train/metrics.json", "hash": "md5", "md5": "cc"},
            ],
        },
    },
}
OUTPUTS = dvc.locked_outputs(LOCK)


# The shape `dvc status --json` prints (seen with dvc 3.67), stage -> list of changes.
STATUS_MISSING_MODEL = {
    "train": [{"changed outs": {"models/model.pkl": "not in cache"}}],
    "evaluate": [{"changed deps": {"models/model.pkl": "deleted", "src/stages/evaluate.py": "modified"}}],
    "featurize": ["always changed"],
}


def test_changed_outputs_and_stale_dependencies_are_read_from_dvc_status():
    assert changed_outputs(STATUS_MISSING_MODEL) == {"models/model.pkl": "not in cache"}
    # a missing upstream output is not a stale lock; a changed source file is
    assert changed_deps(STATUS_MISSING_MODEL, {"models/model.pkl"}) == {
        "evaluate": ["src/stages/evaluate.py"]
    }
    assert changed_outputs({}) == {} and changed_deps({}, set()) == {}


def test_classify_tells_fetched_from_cached_from_git_tracked_and_missing():
    before = {
        "ingest": [{"changed outs": {"data/raw": "not in cache"}}],
        "train": [{"changed outs": {"models/model.pkl": "deleted"}}],
    }
    after = {"train": [{"changed outs": {"models/model.pkl": "not in cache"}}]}
    summary = classify(OUTPUTS, before, after)
    assert summary.fetched == ["data/raw"]
    assert summary.from_cache == []
    assert summary.in_place == ["metrics/train/metrics.json"]
    assert summary.missing == {"models/model.pkl": "not in cache"}
    assert summary.verified == ["data/raw", "metrics/train/metrics.json"]

    everything_restored = classify(OUTPUTS, before, {})
    assert everything_restored.from_cache == ["models/model.pkl"]
    assert everything_restored.missing == {}


def test_missing_outputs_are_explained_by_the_remote_status():
    missing = {"data/raw": "not in cache", "models/model.pkl": "not in cache", "data/split": "modified"}
    # after a verified pull, "deleted" means: the remote has the object, the cache refused it
    cloud = {"data/raw/flights.parquet": "deleted", "data/rawish/x": "missing", "models/model.pkl": "missing"}
    assert explain_missing(missing, cloud) == {
        "data/raw": FAILED_VERIFICATION,
        "models/model.pkl": NOT_IN_REMOTE,
        "data/split": CORRUPT_IN_CACHE,
    }
    assert explain_missing({"data/rawish": "not in cache"}, {"data/raw/a": "deleted"}) == {
        "data/rawish": NOT_IN_REMOTE
    }


def test_stages_to_rebuild_keep_pipeline_order_without_repeats():
    missing = {"metrics/train/metrics.json": "x", "models/model.pkl": "x", "data/raw": "x"}
    assert stages_to_rebuild(OUTPUTS, missing) == ["ingest", "train"]
    assert stages_to_rebuild(OUTPUTS, {}) == []


def test_lock_mismatches_name_each_output_whose_rebuild_differs():
    rebuilt = {
        "data/raw": {"stage": "ingest", "md5": "aa.dir"},
        "models/model.pkl": {"stage": "train", "md5": "zz"},
    }
    assert lock_mismatches(OUTPUTS, rebuilt) == [
        "models/model.pkl: locked bb, rebuilt zz",
        "metrics/train/metrics.json: locked cc, rebuilt nothing",
    ]
    assert lock_mismatches(OUTPUTS, OUTPUTS) == []


def test_mark_rebuilt_moves_outputs_into_their_own_category():
    summary = Summary(fetched=["data/raw"], from_cache=["models/model.pkl"], in_place=["m.json"])
    marked = mark_rebuilt(summary, {"models/model.pkl"})
    assert marked.rebuilt == ["models/model.pkl"]
    assert marked.from_cache == [] and marked.fetched == ["data/raw"]
    assert sorted(marked.verified) == sorted(summary.verified)


def test_summary_counts_every_category_and_the_verified_total():
    summary = Summary(
        fetched=["data/raw", "models/model.pkl"],
        in_place=["metrics/train/metrics.json"],
        missing={"data/split": NOT_IN_REMOTE},
        stale_deps={"evaluate": ["src/stages/evaluate.py"]},
    )
    text = format_summary("0123456789abcdef", "Train more", Path("/tmp/wt"), "s3", summary, 4)
    lines = text.splitlines()
    assert lines[0] == "commit 0123456789ab  Train more"
    counts = {
        line.split("  ")[1].strip(): int(re.findall(r"\s(\d+)(?:\s|$)", line)[0]) for line in lines[2:6]
    }
    assert counts == {
        "fetched from 's3'": 2,
        "from the local cache": 0,
        "in git (cache: false)": 1,
        "missing from the remote": 1,
    }
    assert f"data/split ({NOT_IN_REMOTE})" in text
    assert re.search(r"verified against dvc.lock\s+3\s+of 4 outputs", text)
    assert "stage 'evaluate' no longer matches its lock" in text
    # the count column lines up
    assert len({line.index(str(count)) for line, count in zip(lines[2:6], [2, 0, 1, 1], strict=True)}) == 1
