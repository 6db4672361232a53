"""Every registered version, its stages, commit and headline metrics: ``python -m src.registry.models``.

Versions and the stages they hold come from ``gto show --json``; the stage
assignments, newest first and with their messages (where a forced promotion's reason
is), from ``gto history --json``; the metrics from the evaluate stage's metrics file at
each version's commit (``git show``). ``--card VERSION`` prints that version's model
card instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from src import dvc
from src.core.stage import run_stage
from src.params import load_params
from src.registry import card, catalog
from src.registry.catalog import ModelVersion
from src.registry.versions import parse_version

SPLITS = ("test", "validation")
HISTORY_ROWS = 10


def registered_as(item: ModelVersion) -> str:
    """The registration message's first line without its "<model> <version>: " prefix."""
    first = item.message.splitlines()[0] if item.message else ""
    return first.split(f" {item.version}: ", 1)[-1]


def versions_table(
    versions: Sequence[ModelVersion],
    metrics: Mapping[str, Mapping[str, Mapping[str, float]]],
    names: Sequence[str],
) -> str:
    """One row per version, newest first; ``metrics``: commit -> split -> metric -> value."""
    headers = [
        "version",
        "stages",
        "commit",
        *(f"{split} {name}" for split in SPLITS for name in names),
        "registered",
    ]
    rows = []
    for item in reversed(versions):
        figures = metrics.get(item.commit, {})
        values = [figures.get(split, {}).get(name) for split in SPLITS for name in names]
        rows.append(
            [
                str(item.version),
                ", ".join(item.stages) or "-",
                item.commit[:12],
                *(f"{value:.4f}" if value is not None else "n/a" for value in values),
                registered_as(item),
            ]
        )
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def evidence(message: str) -> list[str]:
    """An assignment message's lines after the first, a forced one's reason without what it overrode."""
    return [line.split(" (overrode: ", 1)[0] for line in message.splitlines()[1:] if line]


def assignments_table(history: Sequence[Mapping[str, Any]], limit: int = HISTORY_ROWS) -> str:
    """The latest stage assignments, newest first, with the rest of their message."""
    events = [event for event in history if event.get("event") == "assignment"]
    events.sort(key=lambda event: (event.get("timestamp") or "", event.get("ref") or ""), reverse=True)
    rows = [
        [
            event.get("ref"),
            event.get("version"),
            event.get("stage"),
            " / ".join(evidence(event.get("message") or "")),
        ]
        for event in events[:limit]
    ]
    return tabulate(
        rows, headers=["tag", "version", "stage", "evidence"], tablefmt="github", disable_numparse=True
    )


def listing(root: Path, model: str, names: Sequence[str]) -> str:
    versions = catalog.read_versions(root, model)
    if not versions:
        return f"{model}: no registered version yet (make register)\n"
    metrics = {
        item.commit: {
            split: catalog.split_metrics(catalog.read_metrics(root, item.commit), split) for split in SPLITS
        }
        for item in versions
    }
    history = dvc.gto_json("history", model, cwd=root) or []
    parts = [f"## {model}", "", versions_table(versions, metrics, names)]
    if any(event.get("event") == "assignment" for event in history):
        parts += ["", "Stage assignments, newest first:", "", assignments_table(history)]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.registry.models",
        description="List every registered model version with its stages, commit and headline metrics.",
    )
    parser.add_argument("--model", help="a model declared in dvc.yaml artifacts (default: every one)")
    parser.add_argument("--card", metavar="VERSION", help="print this version's model card instead")
    args = parser.parse_args(argv)
    root = dvc.repository_root()
    models = catalog.read_models(root)
    if args.card:
        model = catalog.pick_model(models, args.model)
        found = catalog.find_version(
            catalog.read_versions(root, model.name), parse_version(args.card), model.name
        )
        print(card.render_markdown(card.version_card(root, model, str(found.version), found.commit)), end="")
        return
    names = load_params(root / "params.yaml").gate.primary_metrics
    chosen = [catalog.pick_model(models, args.model).name] if args.model else sorted(models)
    print("\n".join(listing(root, name, names) for name in chosen), end="")


if __name__ == "__main__":
    run_stage("models", main)
