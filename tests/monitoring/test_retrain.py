"""Moving the training window: the dates, and params.yaml rewritten in DVC's style."""

from __future__ import annotations

import datetime as dt
import difflib
import shutil
from pathlib import Path

from src import dvc
from src.core.params import load_params
from src.monitoring.retrain import moved_periods, overrides, shift_date
from src.sandbox import REPO_ROOT


def test_month_ends_stay_month_ends():
    assert shift_date(dt.date(2013, 8, 31), 1) == dt.date(2013, 9, 30)
    assert shift_date(dt.date(2013, 1, 31), 1) == dt.date(2013, 2, 28)
    assert shift_date(dt.date(2013, 1, 15), 2) == dt.date(2013, 3, 15)


def test_every_period_moves_or_training_expands(tmp_path: Path):
    split = load_params(REPO_ROOT / "params.yaml").split
    moved = moved_periods(split, 1)
    assert (moved.train.start, moved.train.end) == (
        shift_date(split.train.start, 1),
        shift_date(split.train.end, 1),
    )
    assert moved.validation.start == shift_date(split.validation.start, 1)
    assert moved_periods(split, 1, expand=True).train.start == split.train.start


def test_only_the_date_lines_change(tmp_path: Path):
    params = tmp_path / "params.yaml"
    shutil.copyfile(REPO_ROOT / "params.yaml", params)
    before = params.read_text()
    moved = moved_periods(load_params(params).split, 1)
    dvc.apply_params(params, overrides(moved))
    diff = difflib.unified_diff(before.splitlines(), params.read_text().splitlines(), lineterm="", n=0)
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 12 and all("start: '" in line or "end: '" in line for line in changed)
    assert load_params(params).split == moved
