"""The pool: N processes at a time, against scripted processes and a fake clock."""

from __future__ import annotations

import pytest

from src.experiments.pool import Finished, Pool
from src.experiments.spec import Configuration


class ScriptedProcess:
    """Exits with ``returncode`` at its ``polls``-th poll."""

    def __init__(self, returncode: int, polls: int) -> None:
        self.returncode, self.left = returncode, polls

    def poll(self) -> int | None:
        self.left -= 1
        return self.returncode if self.left <= 0 else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def configurations(count: int) -> list[Configuration]:
    return [Configuration(f"e{i}", "g", (f"train.seed={i}",)) for i in range(1, count + 1)]


def pool_of(script: dict[str, tuple[int, int]], jobs: int, **kwargs) -> tuple[Pool, list[tuple[float, str]]]:
    """A pool over ``script`` (name -> (exit status, polls before exiting)) and its start log."""
    clock, started = Clock(), []

    def start(configuration: Configuration) -> ScriptedProcess:
        started.append((clock.now, configuration.name))
        return ScriptedProcess(*script[configuration.name])

    pool = Pool(configurations(len(script)), jobs, start, clock=clock, sleep=clock.sleep, **kwargs)
    return pool, started


def test_never_more_than_jobs_at_a_time_and_each_exit_status_kept():
    pool, started = pool_of({"e1": (0, 4), "e2": (1, 2), "e3": (0, 1), "e4": (0, 3)}, jobs=2)

    finished = pool.run()

    assert [name for _, name in started] == ["e1", "e2", "e3", "e4"]
    assert started[0][0] == started[1][0] == 0.0  # the first two at once...
    assert started[2][0] > 0.0  # ... the third only once one of them exited
    assert {run.configuration.name: run.returncode for run in finished} == {
        "e1": 0,
        "e2": 1,
        "e3": 0,
        "e4": 0,
    }
    assert [run.configuration.name for run in finished] == ["e2", "e3", "e1", "e4"]
    assert pool.running == {} and pool.waiting == []
    assert all(run.seconds > 0 for run in finished)


def test_one_job_runs_them_one_after_another():
    pool, started = pool_of({"e1": (0, 2), "e2": (0, 2), "e3": (0, 2)}, jobs=1)

    pool.run()

    times = [time for time, _ in started]
    assert times == sorted(times) and len(set(times)) == 3


def test_a_halt_lets_the_running_finish_and_starts_nothing_more():
    answers = iter([None, None, "HEAD moved"])
    pool, started = pool_of(
        {"e1": (0, 1), "e2": (0, 5), "e3": (0, 1), "e4": (0, 1)}, jobs=2, may_start=lambda: next(answers)
    )

    finished = pool.run()

    assert [name for _, name in started] == ["e1", "e2"]
    assert sorted(run.configuration.name for run in finished) == ["e1", "e2"]  # e2 ran to its end
    assert [c.name for c in pool.waiting] == ["e3", "e4"] and pool.halted == "HEAD moved"


def test_stop_interrupts_the_running_ones_and_records_their_status():
    pool, _ = pool_of({"e1": (0, 99), "e2": (0, 99), "e3": (0, 1)}, jobs=2)
    pool._start(pool.waiting.pop(0))
    pool._start(pool.waiting.pop(0))
    interrupted = []

    pool.stop(lambda process: interrupted.append(process) or 130)

    assert len(interrupted) == 2 and pool.running == {}
    assert {run.configuration.name: run.returncode for run in pool.finished} == {"e1": 130, "e2": 130}
    assert pool.halted == "interrupted" and pool.run() == pool.finished  # nothing more starts


@pytest.mark.parametrize(
    ("returncodes", "line"),
    [
        ((0, 0), "[01:15] 2/4 done, 1 running, 1 waiting"),
        ((0, 2), "[01:15] 2/4 done (1 failed), 1 running, 1 waiting"),
    ],
)
def test_progress_line_counts_the_sweep(returncodes, line):
    pool, _ = pool_of({f"e{i}": (0, 1) for i in range(1, 5)}, jobs=2)
    for code, configuration in zip(returncodes, pool.waiting[:2], strict=True):
        pool.finished.append(Finished(configuration, code, 1.0))
    pool.waiting = pool.waiting[3:]
    pool.running = {"e3": (pool.configurations[2], ScriptedProcess(0, 1), 0.0)}

    assert pool.progress(75) == line
