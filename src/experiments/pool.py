"""Run a sweep's experiments N at a time, each in a process of its own, and time them.

The pool knows nothing of DVC: ``start`` is given a configuration and returns its
running process, and the pool only waits, starts the next one when a process exits,
and records every exit status. So the tests drive it with scripted processes, and the
sweep (:mod:`src.experiments.sweep`) gives it ``dvc exp run --temp`` processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from src.experiments.spec import Configuration

log = logging.getLogger("pipeline")

POLL_SECONDS = 0.5  # a poll is one waitpid() per running process: nothing to save by waiting longer
HEARTBEAT_SECONDS = 60.0  # a progress line at least this often, even when nothing changed


class Process(Protocol):
    """What the pool needs of a started process (``subprocess.Popen`` has it)."""

    def poll(self) -> int | None: ...


@dataclass(frozen=True)
class Finished:
    """A configuration whose process exited (or was stopped)."""

    configuration: Configuration
    returncode: int
    seconds: float


@dataclass
class Pool:
    """``jobs`` processes at a time, from ``configurations`` in order, until all have exited.

    ``may_start`` is asked before each start and returns why no more experiments should
    start (the pool then lets the running ones finish), or None to go on.
    """

    configurations: Sequence[Configuration]
    jobs: int
    start: Callable[[Configuration], Process]
    may_start: Callable[[], str | None] = lambda: None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waiting: list[Configuration] = field(init=False)
    running: dict[str, tuple[Configuration, Process, float]] = field(init=False, default_factory=dict)
    finished: list[Finished] = field(init=False, default_factory=list)
    halted: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.waiting = list(self.configurations)

    def run(self) -> list[Finished]:
        """Run until every started process has exited; the configurations in the order they finished."""
        began = last_line = self.clock()
        while self.running or (self.waiting and not self.halted):
            changed = self._reap()
            while self.waiting and len(self.running) < self.jobs and not self.halted:
                self.halted = self.may_start()
                if self.halted:
                    log.error("%s: no more experiments started (%d not run)", self.halted, len(self.waiting))
                    break
                self._start(self.waiting.pop(0))
                changed = True
            now = self.clock()
            if changed or now - last_line >= HEARTBEAT_SECONDS:
                log.info("%s", self.progress(now - began))
                last_line = now
            if self.running:
                self.sleep(POLL_SECONDS)
        return self.finished

    def stop(self, interrupt: Callable[[Process], int]) -> None:
        """Start nothing more, and stop the running processes with ``interrupt`` (their exit status)."""
        self.halted = self.halted or "interrupted"
        for name, (configuration, process, started) in list(self.running.items()):
            returncode = interrupt(process)
            self.finished.append(Finished(configuration, returncode, self.clock() - started))
            del self.running[name]

    def progress(self, elapsed: float) -> str:
        failed = sum(1 for run in self.finished if run.returncode != 0)
        minutes, seconds = divmod(int(elapsed), 60)
        return (
            f"[{minutes:02d}:{seconds:02d}] {len(self.finished)}/{len(self.configurations)} done"
            f"{f' ({failed} failed)' if failed else ''}, {len(self.running)} running, {len(self.waiting)} waiting"
        )

    def _start(self, configuration: Configuration) -> None:
        log.info("start %s: %s", configuration.name, " ".join(configuration.overrides))
        self.running[configuration.name] = (configuration, self.start(configuration), self.clock())

    def _reap(self) -> bool:
        reaped = False
        for name, (configuration, process, started) in list(self.running.items()):
            returncode = process.poll()
            if returncode is None:
                continue
            seconds = self.clock() - started
            self.finished.append(Finished(configuration, returncode, seconds))
            del self.running[name]
            verdict = "finished" if returncode == 0 else f"exited {returncode}"
            log.info("%s %s after %.0f s", name, verdict, seconds)
            reaped = True
        return reaped
