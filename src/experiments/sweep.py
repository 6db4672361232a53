"""Run a sweep of experiments on DVC's queue, on every core, and account for each one.

``make sweep`` runs ``python -m src.experiments.sweep [--spec sweeps/default.yaml] [--jobs N]``:

1. The spec's grids are expanded exactly as ``dvc exp run -S`` expands them (DVC's
   own Hydra override code) and every configuration is applied to ``params.yaml`` and
   validated by ``src.params`` before anything is queued: an unknown parameter path,
   or a value ``params.py`` forbids, stops the sweep with nothing queued. Values that
   only the model rejects at run time fail in their experiment and are reported.
2. The baseline is brought up to date (``dvc repro`` when ``dvc status`` reports
   changes), so its outputs are in the cache: queued experiments restore the stages
   they do not change (ingest, validate, featurize, split) instead of re-running them.
3. Each grid is queued with ``dvc exp run --queue -S ...`` and ``dvc queue start -j N``
   starts N workers (N: the cores available).
4. ``dvc queue start`` returns at once, and neither it nor ``dvc queue status`` says
   in its exit status that an experiment failed, so the sweep polls ``dvc queue
   status`` until its experiments are done. DVC's Celery queue can lose a task when
   several workers run (measured here: a task left "Running" with no worker and no
   log after the others finished; see docs/experiments.md), so the watch also
   restarts workers that went away with work left, and re-queues (once, by default)
   an experiment the queue lost: one stuck in "Running" with no worker alive, or
   "Failed" without any log. An experiment that failed with a log failed for real
   and is reported with that log.
5. At the end: the failed experiments' logs, the comparison table (``dvc exp show``
   with the varying parameters and the validation/test metrics, best first), and exit
   status 1 if any configuration did not finish.

Ctrl-C stops the watch and the workers (``dvc queue stop``: running experiments
finish, queued ones stay queued); the workspace and ``dvc.lock`` are never touched
by queued runs. ``python -m src.experiments.sweep --resume`` (or ``dvc queue start``) goes on.

``--compare`` only prints the table and writes ``dvc plots diff`` of the top
experiments (ROC, precision-recall, calibration overlays...) to ``--plots-dir``.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from src.core.params import LOWER_IS_BETTER, PARAMS_FILE
from src.core.stage import PipelineError, run_stage
from src.dvc import run as run_command
from src.experiments.selection import ExperimentTable, experiment_state, parse_exp_show, ranked
from src.params import Params, load_params, parse_params

log = logging.getLogger("pipeline")

SPEC_FILE = Path("sweeps/default.yaml")
#: Where a running sweep records its experiments, so ``--resume`` can finish it.
#: DVC's own scratch directory: git-ignored, and local to this clone.
STATE_FILE = Path(".dvc/tmp/sweep/state.json")
PLOTS_DIR = Path("reports/sweep-plots")
#: Where DVC's queue keeps its workers' records and logs (``dvc queue start``).
CELERY_DIR = Path(".dvc/tmp/exps/celery")

POLL_SECONDS = 10.0  # one `dvc queue status` costs about 1 s of CPU: poll gently
FAST_POLL_SECONDS = 3.0  # once a core is idle, polls cost nothing: watch the last ones closely
HEARTBEAT_SECONDS = 60.0  # print progress at least this often, even with no change
#: Polls in a row with work left and no worker alive before the watch steps in.
#: Workers exit on their own a few seconds after the queue looks empty.
NO_WORKER_POLLS = 2
IDLE_WORKER_WAIT_SECONDS = 90.0
LOG_TAIL_LINES = 25

QUEUED_RE = re.compile(r"^Queued experiment '(?P<name>[^']+)' for future execution\.")
OVERRIDES_RE = re.compile(r"^Queueing with overrides '(?P<mapping>.*)'\.\s*$")
WORKERS_RE = re.compile(r"Worker status: (?P<active>\d+) active, (?P<idle>\d+) idle")
STAGE_RUN_RE = re.compile(r"^Running stage '(?P<stage>[^']+)'", re.MULTILINE)
NO_LOG_MARKERS = ("No output logs found",)

PENDING = ("Queued", "Running")


# --- the sweep definition --------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """One ``dvc exp run --queue`` command: its ``-S`` overrides, grid syntax allowed."""

    name: str
    overrides: tuple[str, ...]


def parse_spec(raw: object, origin: str) -> list[Grid]:
    """Read a sweep file: ``grids:`` a list of ``{name: ..., set: [override, ...]}``."""
    grids = raw.get("grids") if isinstance(raw, dict) else None
    if not isinstance(grids, list) or not grids:
        raise PipelineError(f"{origin}: expected a non-empty list under 'grids:'")
    parsed = []
    for index, grid in enumerate(grids):
        where = f"{origin}: grids[{index}]"
        if not isinstance(grid, dict) or set(grid) - {"name", "set"}:
            raise PipelineError(f"{where}: expected a mapping with 'name' and 'set' only")
        overrides = grid.get("set")
        if not isinstance(overrides, list) or not overrides or not all(isinstance(o, str) for o in overrides):
            raise PipelineError(f"{where}: 'set' must be a non-empty list of 'key=value' strings")
        parsed.append(Grid(name=str(grid.get("name", f"grid {index + 1}")), overrides=tuple(overrides)))
    return parsed


def load_spec(path: Path) -> list[Grid]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: sweep file not found") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML: {error}") from None
    return parse_spec(raw, str(path))


UNKNOWN_PATH_RE = re.compile(r"Could not override '(?P<key>[^']+)'")


def _override_error(error: BaseException) -> str:
    """Hydra's explanation of a refused override (DVC wraps it as 'Invalid --set-param value')."""
    cause = error.__cause__ or error
    if match := UNKNOWN_PATH_RE.search(str(cause)):
        return f"{match['key']}: unknown parameter path (not in {PARAMS_FILE}; check its spelling)"
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return "; ".join(lines[:3]) or type(cause).__name__


def expand(overrides: Sequence[str]) -> list[tuple[str, ...]]:
    """The configurations ``dvc exp run -S`` makes of ``overrides`` (``key=a,b`` -> two).

    DVC's own expansion, so the sweep queues exactly what this predicts.
    """
    from dvc.utils.hydra import get_hydra_sweeps

    try:
        sweeps = get_hydra_sweeps({str(PARAMS_FILE): list(overrides)})
    except Exception as error:  # noqa: BLE001 - Hydra raises several parse error types
        raise PipelineError(f"-S {' '.join(overrides)}: {_override_error(error)}") from None
    return [tuple(sweep[str(PARAMS_FILE)]) for sweep in sweeps]


def configured_params(params_text: str, overrides: Sequence[str]) -> object:
    """``params.yaml`` with ``overrides`` applied by DVC's own code.

    DVC applies ``-S`` to the file in strict mode: a path that is not in the file is
    refused (unless written ``+key=value``). DVC only offers this on a file, hence the
    scratch copy.
    """
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    with tempfile.TemporaryDirectory(prefix="sweep-params-") as scratch:
        path = Path(scratch) / PARAMS_FILE.name
        path.write_text(params_text, encoding="utf-8")
        try:
            apply_overrides(path, list(overrides))
        except InvalidArgumentError as error:
            raise PipelineError(_override_error(error)) from None
        return yaml.safe_load(path.read_text(encoding="utf-8"))


def check_configurations(params_text: str, configurations: Sequence[tuple[str, ...]]) -> list[Params]:
    """Validate every configuration; one error listing all problems, before anything is queued."""
    problems: dict[str, list[str]] = {}
    checked = []
    for overrides in configurations:
        label = " ".join(overrides)
        try:
            checked.append(parse_params(configured_params(params_text, overrides), origin=label))
        except PipelineError as error:
            # parse_params lists one problem a line under a header; keep the problems.
            reasons = [line.strip() for line in str(error).splitlines()[1:]] or [str(error)]
            for reason in reasons:
                problems.setdefault(reason, []).append(label)
    if problems:
        report = []
        for reason, labels in problems.items():
            shown = labels[:3] + ([f"... and {len(labels) - 3} more"] if len(labels) > 3 else [])
            report.append(f"  - {reason}\n      in: " + "\n          ".join(shown))
        raise PipelineError("the sweep has invalid configurations; nothing was queued:\n" + "\n".join(report))
    return checked


def duplicates(configurations: Sequence[tuple[str, ...]], checked: Sequence[Params]) -> list[str]:
    """Configurations that give the same parameters as an earlier one (wasted runs)."""
    seen: dict[str, str] = {}
    repeated = []
    for overrides, params in zip(configurations, checked, strict=True):
        key = params.model_dump_json(by_alias=True)
        label = " ".join(overrides)
        if key in seen:
            repeated.append(f"{label} (same as {seen[key]})")
        seen.setdefault(key, label)
    return repeated


# --- what the dvc commands print ---------------------------------------------------------


def parse_queued(output: str) -> list[tuple[str, tuple[str, ...]]]:
    """``dvc exp run --queue`` output -> [(experiment name, its overrides)], in order."""
    queued: list[tuple[str, tuple[str, ...]]] = []
    overrides: tuple[str, ...] = ()
    for line in output.splitlines():
        if match := OVERRIDES_RE.match(line):
            try:
                mapping = ast.literal_eval(match["mapping"])
                overrides = tuple(mapping.get(str(PARAMS_FILE), ())) if isinstance(mapping, dict) else ()
            except (ValueError, SyntaxError):
                overrides = ()
        elif match := QUEUED_RE.match(line):
            queued.append((match["name"], overrides))
            overrides = ()
    return queued


@dataclass(frozen=True)
class QueueSnapshot:
    """What ``dvc queue status`` shows (it has no JSON output)."""

    states: dict[str, str]  # experiment name (task id when unnamed) -> Queued/Running/Success/Failed
    active_workers: int
    idle_workers: int

    @property
    def workers(self) -> int:
        return self.active_workers + self.idle_workers


def parse_queue_status(text: str) -> QueueSnapshot:
    """Parse the fixed-width table of ``dvc queue status`` by its header's column offsets."""
    states: dict[str, str] = {}
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.split()[:2] == ["Task", "Name"]), None)
    if header is not None:
        name_at, created_at = lines[header].index("Name"), lines[header].index("Created")
        for line in lines[header + 1 :]:
            if not line.strip() or line.startswith("Worker status"):
                break
            fields = line.split()
            name = line[name_at:created_at].strip() or fields[0]
            states[name] = fields[-1]
    workers = WORKERS_RE.search(text)
    active, idle = (int(workers["active"]), int(workers["idle"])) if workers else (0, 0)
    return QueueSnapshot(states=states, active_workers=active, idle_workers=idle)


def lost_without_log(log_text: str) -> bool:
    """A failed experiment whose log is empty or missing never ran: the queue lost it."""
    return not log_text.strip() or any(marker in log_text for marker in NO_LOG_MARKERS)


def stage_runs(log_text: str) -> Counter:
    """How many times each stage ran (not restored or skipped) according to a run's log."""
    return Counter(match["stage"] for match in STAGE_RUN_RE.finditer(log_text))


def log_tail(log_text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(log_text.rstrip().splitlines()[-lines:])


# --- the sweep's bookkeeping -------------------------------------------------------------


@dataclass
class Run:
    """One queued experiment of the sweep."""

    name: str
    overrides: list[str]
    grid: str
    attempt: int = 1
    #: Set when the queue lost this run and a new one was queued in its place.
    replaced_by: str | None = None


@dataclass
class SweepState:
    baseline: str  # the commit the experiments derive from
    jobs: int
    runs: list[Run] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def current(self) -> list[Run]:
        return [run for run in self.runs if run.replaced_by is None]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SweepState:
        raw = json.loads(text)
        raw["runs"] = [Run(**run) for run in raw.get("runs", [])]
        return cls(**raw)


def stuck_candidates(states: dict[str, str], no_worker_polls: int) -> list[str]:
    """Runs shown Running although no worker has been alive for a while.

    Workers exit on their own once the queue looks empty; a task still "Running" after
    that is either an orphaned run still going, or one the queue lost (its log then
    shows nothing): the caller tells them apart by the log.
    """
    if no_worker_polls < NO_WORKER_POLLS:
        return []
    return sorted(name for name, state in states.items() if state == "Running")


def needs_workers(states: dict[str, str], no_worker_polls: int) -> bool:
    """Work is queued but no worker has been alive for a while (they exit when idle)."""
    return no_worker_polls >= NO_WORKER_POLLS and any(state == "Queued" for state in states.values())


def is_settled(states: dict[str, str], no_worker_polls: int) -> bool:
    """Nothing left to wait for: every run finished, or vanished from a queue with no worker."""
    if any(state in PENDING for state in states.values()):
        return False
    return all(state != "Unknown" for state in states.values()) or no_worker_polls >= NO_WORKER_POLLS


def poll_interval(states: dict[str, str], jobs: int, poll: float) -> float:
    """``poll`` while every worker is busy; shorter once a core idles near the end.

    A poll costs about a second of CPU: taken from the experiments while they fill
    every core, free once a worker has nothing left to do, when it also shortens
    the wait between the last experiment's end and the report.
    """
    counts = tally(states)
    return poll if counts["Queued"] or counts["Running"] >= jobs else min(poll, FAST_POLL_SECONDS)


def tally(states: dict[str, str]) -> Counter:
    return Counter(states.values())


def progress_line(states: dict[str, str], elapsed: float, snapshot: QueueSnapshot) -> str:
    counts = tally(states)
    done = counts["Success"] + counts["Failed"]
    minutes, seconds = divmod(int(elapsed), 60)
    failed = f" ({counts['Failed']} failed)" if counts["Failed"] else ""
    return (
        f"[{minutes:02d}:{seconds:02d}] {done}/{len(states)} done{failed}, {counts['Running']} running, "
        f"{counts['Queued']} queued; workers: {snapshot.active_workers} busy, {snapshot.idle_workers} idle"
    )


# --- comparison ---------------------------------------------------------------------------


def varying_params(table: ExperimentTable) -> list[str]:
    """Parameters whose value differs between the baseline and its finished experiments."""
    rows = [table.baseline, *(e for e in table.experiments if e.state == "success")]
    keys = sorted(set().union(*(row.params for row in rows)))
    return [key for key in keys if len({json.dumps(row.params.get(key), sort_keys=True) for row in rows}) > 1]


def compare_metrics(params: Params) -> list[str]:
    """The selection metric first, then the gate's primary metrics."""
    return list(dict.fromkeys([params.select.metric, *params.gate.primary_metrics]))


def exp_show_args(table: ExperimentTable, params: Params) -> list[str]:
    """``dvc exp show`` keeping only the varying params and validation/test metrics, best first."""
    metric = params.select.metric
    metric_names = "|".join(re.escape(name) for name in compare_metrics(params))
    prefix = f"({re.escape(table.metrics_file)}:)?" if table.metrics_file else ""
    columns = ["Experiment", "State", f"{prefix}(validation|test)\\.({metric_names})"]
    columns += [f"(params\\.yaml:)?{re.escape(key)}" for key in varying_params(table)]
    args = [
        "dvc",
        "exp",
        "show",
        "--md",
        "--no-pager",
        "--hide-workspace",
        "--hide-queued",
        "--hide-failed",
        "--precision",
        "4",
        "--drop",
        ".*",
        "--keep",
        f"^({'|'.join(columns)})$",
    ]
    if table.metrics_file:
        args += [
            "--sort-by",
            f"{table.metrics_file}:validation.{metric}",
            "--sort-order",
            "asc" if metric in LOWER_IS_BETTER else "desc",
        ]
    return args


def plots_diff_args(table: ExperimentTable, metric: str, top: int, out: Path) -> list[str]:
    """``dvc plots diff`` of the baseline and the ``top`` experiments by validation ``metric``."""
    best = [experiment.name for experiment in ranked(table.experiments, metric)[:top]]
    return ["dvc", "plots", "diff", "HEAD", *best, "--out", str(out)]


# --- commands -------------------------------------------------------------------------------


def queue_snapshot() -> QueueSnapshot:
    return parse_queue_status(run_command(["dvc", "queue", "status"]).stdout)


def queue_log(name: str) -> str:
    result = run_command(["dvc", "queue", "logs", name], check=False)
    return result.stdout + result.stderr


def exp_show_payload() -> list[dict] | None:
    """``dvc exp show --json``, or None when DVC cannot list (it fails while a lost task lingers)."""
    result = run_command(["dvc", "exp", "show", "--json", "--no-pager"], check=False)
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return None


def experiment_states(payload: list[dict] | None) -> dict[str, str]:
    """Experiment name -> DVC's executor state, for every experiment of the listed commits."""
    states = {}
    for commit in payload or []:
        for entry in commit.get("experiments") or []:
            if entry.get("name"):
                states[entry["name"]] = experiment_state(entry)
    return states


def experiment_logs(payload: list[dict] | None) -> dict[str, Path]:
    """Experiment name -> the log file its queue worker wrote (as ``dvc exp show`` records it)."""
    logs = {}
    for commit in payload or []:
        for entry in commit.get("experiments") or []:
            path = ((entry.get("executor") or {}).get("local") or {}).get("log")
            if entry.get("name") and path:
                logs[entry["name"]] = Path(path)
    return logs


def save_state(state: SweepState) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    scratch = STATE_FILE.with_suffix(".tmp")
    scratch.write_text(state.to_json(), encoding="utf-8")
    os.replace(scratch, STATE_FILE)


def load_state() -> SweepState:
    try:
        return SweepState.from_json(STATE_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{STATE_FILE}: no interrupted sweep to resume here") from None


def head_commit() -> str:
    return run_command(["git", "rev-parse", "HEAD"]).stdout.strip()


def warn_untracked() -> None:
    """Queued runs see only what git tracks: say which files they will miss."""
    untracked = run_command(["git", "ls-files", "--others", "--exclude-standard"]).stdout.split()
    if untracked:
        log.warning(
            "not tracked by git, so queued experiments will not see them (git add them if they matter): %s",
            ", ".join(untracked[:10]) + (" ..." if len(untracked) > 10 else ""),
        )


def wait_for_quiet_queue() -> None:
    """Refuse to mix with pending work; let idle workers of an earlier run exit first.

    A worker that is about to exit on an empty queue can take a newly queued task and
    drop it (seen here): queue only once no worker is left.
    """
    deadline = time.monotonic() + IDLE_WORKER_WAIT_SECONDS
    while True:
        snapshot = queue_snapshot()
        pending = sorted(name for name, state in snapshot.states.items() if state in PENDING)
        if pending:
            raise PipelineError(
                f"the experiment queue already holds {len(pending)} queued or running experiment(s) "
                f"({', '.join(pending[:5])}): finish them with `python -m src.experiments.sweep --resume` "
                "(or `dvc queue start`), or drop them with `dvc queue remove --queued` / `dvc queue kill NAME`"
            )
        if max(snapshot.workers, live_worker_processes()) == 0:
            return
        if time.monotonic() > deadline:
            log.info("asking the idle queue workers to exit before queueing")
            run_command(["dvc", "queue", "stop"], check=False)
            deadline = time.monotonic() + IDLE_WORKER_WAIT_SECONDS
        time.sleep(3)


def ensure_baseline() -> None:
    """Reproduce the baseline if needed, so every shared stage's outputs are in the cache."""
    output = run_command(["dvc", "status", "--json"]).stdout
    try:
        changes = json.loads(output or "{}")
    except json.JSONDecodeError:
        raise PipelineError(f"`dvc status --json` printed something that is not JSON:\n{output}") from None
    if not changes:
        log.info("baseline is up to date: its outputs are in the cache, shared stages will not re-run")
        return
    log.info(
        "baseline is not up to date (%s): running `dvc repro` first, once, so experiments share its outputs",
        ", ".join(sorted(changes)),
    )
    result = subprocess.run(["dvc", "repro"])
    if result.returncode != 0:
        raise PipelineError("`dvc repro` of the baseline failed: fix the pipeline before sweeping")


def queue_grid(grid: Grid, configurations: Sequence[tuple[str, ...]]) -> list[Run]:
    """Queue one grid with ``dvc exp run --queue -S ...``; one Run per queued experiment.

    DVC queues the configurations in the order :func:`expand` lists them; a run keeps
    the overrides DVC printed for it, or the expected ones if it printed none.
    """
    args = ["dvc", "exp", "run", "--queue"]
    for override in grid.overrides:
        args += ["-S", override]
    result = run_command(args)
    queued = parse_queued(result.stdout + "\n" + result.stderr)
    if len(queued) != len(configurations):
        raise PipelineError(
            f"grid {grid.name!r}: expected {len(configurations)} queued experiment(s), "
            f"dvc queued {len(queued)}:\n{result.stdout}"
        )
    return [
        Run(name=name, overrides=list(printed or expected), grid=grid.name)
        for (name, printed), expected in zip(queued, configurations, strict=True)
    ]


def requeue(run: Run) -> Run:
    """Queue the same configuration again, as a new experiment."""
    (replacement,) = queue_grid(Grid(name=run.grid, overrides=tuple(run.overrides)), [tuple(run.overrides)])
    replacement.attempt = run.attempt + 1
    run.replaced_by = replacement.name
    return replacement


def queue_sweep(
    state: SweepState, grids: Sequence[Grid], configurations: dict[str, list], start: Callable[[], None]
) -> None:
    """Queue every grid, calling ``start`` once the first is queued.

    The workers then boot while the other grids are queued (seconds saved at the start
    of every sweep), and never face an empty queue, which they would leave. If a grid
    cannot be queued, the sweep's queued experiments are taken out again.
    """
    try:
        for index, grid in enumerate(grids):
            state.runs += queue_grid(grid, configurations[grid.name])
            save_state(state)
            if index == 0:
                start()
    except PipelineError:
        if state.runs:
            run_command(["dvc", "queue", "remove", *(run.name for run in state.runs)], check=False)
            run_command(["dvc", "queue", "stop"], check=False)
            log.error(
                "removed this sweep's queued experiments again: %s", ", ".join(r.name for r in state.runs)
            )
        raise


def start_workers(jobs: int) -> None:
    """``dvc queue start -j N``; its output goes to a file, not a pipe.

    The workers it leaves running inherit its stdout and stderr: on a pipe, reading
    the output to its end would wait for the last worker to exit.
    """
    with tempfile.TemporaryFile(mode="w+") as output:
        args = ["dvc", "queue", "start", "-j", str(jobs)]
        code = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=output, stderr=output).returncode
        output.seek(0)
        if code != 0:
            raise PipelineError(f"`{' '.join(args)}` exited {code}:\n{output.read().strip()}")


def live_worker_processes(celery_dir: Path = CELERY_DIR) -> int:
    """Queue workers whose process is alive, from the records ``dvc queue start`` keeps.

    ``dvc queue status`` counts only the workers that answer a one-second ping, which a
    busy machine can miss; restarting workers that are in fact alive would start a
    second worker under the same name. So liveness is also checked on the processes.
    """
    alive = 0
    for record in celery_dir.glob("dvc-exp-worker-*.json"):
        try:
            pid = int(json.loads(record.read_text(encoding="utf-8"))["pid"])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        alive += b"queue-worker" in command
    return alive


def watch(state: SweepState, poll: float, retries: int, timeout: float | None) -> dict[str, str]:
    """Poll until every current run is done; restart workers and re-queue lost runs."""
    start = time.monotonic()
    last_shown, last_print, no_worker_polls = "", 0.0, 0
    reported: set[str] = set()
    just_queued: set[str] = set()
    while True:
        snapshot = queue_snapshot()
        alive = max(snapshot.workers, live_worker_processes())
        no_worker_polls = 0 if alive else no_worker_polls + 1
        just_queued &= {run.name for run in state.current() if run.name not in snapshot.states}
        states = {
            run.name: "Queued" if run.name in just_queued else snapshot.states.get(run.name, "Unknown")
            for run in state.current()
        }

        for run in state.current():
            if states[run.name] != "Failed" or run.name in reported:
                continue
            text = queue_log(run.name)
            reported.add(run.name)
            if lost_without_log(text) and run.attempt <= retries:
                log.warning(
                    "%s failed without any log (the queue lost it): queueing its configuration again",
                    run.name,
                )
                replacement = requeue(run)
                state.runs.append(replacement)
                just_queued.add(replacement.name)
            else:
                log.error(
                    "%s failed (%s); last lines of `dvc queue logs %s`:\n%s",
                    run.name,
                    " ".join(run.overrides),
                    run.name,
                    log_tail(text),
                )

        for name in stuck_candidates(states, no_worker_polls):
            if not lost_without_log(queue_log(name)):
                continue  # it ran and wrote a log: an orphaned run still going, or about to settle
            run = next(r for r in state.current() if r.name == name)
            log.warning(
                "%s is shown running but has no log and no worker is alive (a task the queue "
                "lost): marking it failed with `dvc queue kill`",
                name,
            )
            run_command(["dvc", "queue", "kill", name], check=False)
            reported.add(name)
            if run.attempt <= retries:
                replacement = requeue(run)
                state.runs.append(replacement)
                just_queued.add(replacement.name)
            else:
                states[name] = "Failed"
        save_state(state)

        states = {
            run.name: "Queued" if run.name in just_queued else states.get(run.name, "Unknown")
            for run in state.current()
        }
        if needs_workers(states, no_worker_polls):
            queued = sum(1 for value in states.values() if value == "Queued")
            log.warning("no queue worker alive with %d experiment(s) queued: starting workers again", queued)
            start_workers(min(state.jobs, queued))
            no_worker_polls = 0

        elapsed = time.monotonic() - start
        line = progress_line(states, time.time() - state.started, snapshot)
        shown = line.split("] ", 1)[1]
        if shown != last_shown or elapsed - last_print >= HEARTBEAT_SECONDS:
            log.info("%s", line)
            last_shown, last_print = shown, elapsed
        if is_settled(states, no_worker_polls):
            return states
        if timeout is not None and elapsed > timeout:
            log.error("timed out after %.0f s with experiments still pending", elapsed)
            return states
        time.sleep(poll_interval(states, state.jobs, poll))


def report(state: SweepState, params: Params, queue_states: dict[str, str]) -> list[Run]:
    """Print stage counts and the comparison table; return the runs that did not succeed."""
    payload = exp_show_payload()
    shown = experiment_states(payload)
    current = state.current()
    # `dvc exp show` is the record of what finished; the queue's word is the fallback.
    outcome = {
        run.name: shown.get(run.name) or queue_states.get(run.name, "unknown").lower() for run in current
    }
    lost = [run for run in current if outcome[run.name] != "success"]

    counts: Counter = Counter()
    for name, path in experiment_logs(payload).items():
        if name in outcome and path.is_file():
            counts.update(stage_runs(path.read_text(encoding="utf-8", errors="replace")))
    if counts:
        log.info(
            "stage runs inside the sweep's experiments: %s",
            ", ".join(f"{stage} x{count}" for stage, count in sorted(counts.items())),
        )

    if payload is not None:
        table = parse_exp_show(payload, params.select.metric)
        print(run_command(exp_show_args(table, params)).stdout, flush=True)
    finished = len(current) - len(lost)
    minutes, seconds = divmod(int(time.time() - state.started), 60)
    log.info(
        "sweep: %d configuration(s), %d finished, %d did not, in %dm%02ds",
        len(current),
        finished,
        len(lost),
        minutes,
        seconds,
    )
    for run in lost:
        log.error("  %s (%s): %s", run.name, " ".join(run.overrides), outcome[run.name])
    return lost


def compare(params: Params, top: int, plots_dir: Path | None) -> None:
    payload = exp_show_payload()
    if payload is None:
        raise PipelineError("`dvc exp show --json` failed: see `dvc exp show` and `dvc queue status`")
    table = parse_exp_show(payload, params.select.metric)
    print(run_command(exp_show_args(table, params)).stdout, flush=True)
    failed = [e.name for e in table.experiments if e.state == "failed"]
    if failed:
        log.info("not shown, failed: %s (`dvc queue logs NAME` says why)", ", ".join(failed))
    shown = ranked(table.experiments, params.select.metric)[:top]
    if plots_dir is not None and shown:
        run_command(plots_diff_args(table, params.select.metric, top, plots_dir))
        log.info(
            "plots of HEAD and %s (best on validation %s): %s",
            ", ".join(e.name for e in shown),
            params.select.metric,
            plots_dir / "index.html",
        )


def interrupted(state: SweepState | None) -> None:
    """Ctrl-C: stop the workers, keep the queue, and say how to go on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the clean-up below must not be cut short
    if state is None or not state.runs:
        log.warning("interrupted before anything was queued")
        sys.exit(130)
    log.warning("interrupted: asking the queue workers to stop after their current experiment")
    run_command(["dvc", "queue", "stop"], check=False)
    save_state(state)
    pending = f" ({len(state.current())} experiment(s) in this sweep)"
    log.warning(
        "the workspace and dvc.lock are untouched; queued experiments stay queued%s.\n"
        "  see where it stands:  dvc queue status\n"
        "  go on and report:     python -m src.experiments.sweep --resume   (or: dvc queue start -j N)\n"
        "  abort a running one:  dvc queue kill NAME\n"
        "  drop what is queued:  dvc queue remove --queued",
        pending,
    )
    sys.exit(130)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.experiments.sweep",
        description="Queue a sweep of experiments (dvc exp run --queue), run them on N workers "
        "(dvc queue start -j N), wait, report failures and print the comparison table.",
    )
    parser.add_argument("--spec", type=Path, default=SPEC_FILE, help=f"sweep file (default {SPEC_FILE})")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="queue workers (default: the cores available)",
    )
    parser.add_argument(
        "--set",
        "-S",
        dest="extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override added to every grid (e.g. a smaller max_iter for a quick look)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="times to re-queue an experiment the queue lost (never a real failure)",
    )
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, help="seconds between queue polls")
    parser.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    parser.add_argument(
        "--resume", action="store_true", help="go on with the interrupted sweep (no new queueing)"
    )
    parser.add_argument(
        "--compare", action="store_true", help="only print the table and write comparison plots"
    )
    parser.add_argument("--top", type=int, default=3, help="--compare: experiments in the plots (default 3)")
    parser.add_argument(
        "--plots-dir", type=Path, default=PLOTS_DIR, help=f"--compare: plots go here ({PLOTS_DIR})"
    )
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    signal.signal(signal.SIGTERM, _terminate)

    params = load_params()
    if args.compare:
        compare(params, args.top, args.plots_dir)
        return

    state: SweepState | None = None
    try:
        if args.resume:
            state = load_state()
            state.jobs = args.jobs
            log.info("resuming the sweep of %d experiment(s) on %s", len(state.current()), state.baseline[:7])
            if live_worker_processes() == 0:
                # With workers still alive, the watch starts more once they have exited:
                # `dvc queue start` might miss a busy worker and start a second one of its name.
                start_workers(min(state.jobs, len(state.current())))
        else:
            grids = [Grid(g.name, g.overrides + tuple(args.extra)) for g in load_spec(args.spec)]
            configurations = {grid.name: expand(grid.overrides) for grid in grids}
            flat = [c for grid in grids for c in configurations[grid.name]]
            checked = check_configurations(PARAMS_FILE.read_text(encoding="utf-8"), flat)
            for repeated in duplicates(flat, checked):
                log.warning("duplicate configuration: %s", repeated)
            log.info("%d configuration(s) in %d grid(s), all valid", len(flat), len(grids))
            warn_untracked()
            wait_for_quiet_queue()
            ensure_baseline()
            state = SweepState(baseline=head_commit(), jobs=args.jobs)
            workers = min(args.jobs, len(flat))
            queue_sweep(state, grids, configurations, start=lambda: start_workers(workers))
            log.info(
                "queued: %s; started %d queue worker(s)", ", ".join(run.name for run in state.runs), workers
            )
        queue_states = watch(state, args.poll, args.retries, args.timeout)
    except KeyboardInterrupt:
        interrupted(state)
        return
    lost = report(state, params, queue_states)
    if lost:
        raise PipelineError(
            f"{len(lost)} of {len(state.current())} experiment(s) did not finish: "
            + ", ".join(run.name for run in lost)
        )


if __name__ == "__main__":
    run_stage("sweep", main)
