"""params.yaml is kept in the style DVC writes, so `dvc exp run -S` and `make promote`
(`dvc exp apply`) change only the lines whose values change (issue 14)."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from dvc.utils.hydra import apply_overrides

from src.sandbox import REPO_ROOT


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_a_set_param_changes_only_the_lines_of_the_values_it_sets(tmp_path: Path):
    params = tmp_path / "params.yaml"
    shutil.copyfile(REPO_ROOT / "params.yaml", params)
    before = params.read_text()
    # as `dvc exp run -S` applies them (a list and a quoted date included)
    apply_overrides(
        str(params), ["train.seed=7", "train.feature_groups=[calendar,weather]", "split.test.end=2013-12-30"]
    )
    assert sorted(changed_lines(before, params.read_text())) == sorted(
        [
            "-  seed: 2013",
            "+  seed: 7",
            "-  - schedule",
            "-  - route",
            "-  - plane",
            "-    end: '2013-12-31'",
            "+    end: '2013-12-30'",
        ]
    )


def test_rewriting_it_unchanged_changes_nothing(tmp_path: Path):
    params = tmp_path / "params.yaml"
    shutil.copyfile(REPO_ROOT / "params.yaml", params)
    apply_overrides(str(params), ["train.seed=2013"])  # the value it has
    assert params.read_text() == (REPO_ROOT / "params.yaml").read_text()
