"""The device runtime as named steps: started in order, stopped in reverse, in one place.

    App([Step("open outbox", ...), Step("start hardware", ...), Step("start link", ...), ...])

`start` runs the steps in order; if one fails, the ones already started are stopped (newest
first) and the error goes up. `stop` stops whatever was started, newest first, and keeps going
when a step's stop fails, so one broken part cannot keep the others from being released.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


def _nothing() -> None:
    """A step with nothing to undo."""


@dataclass(frozen=True)
class Step:
    """One named unit of the runtime: how to start it and how to stop it."""

    name: str
    start: Callable[[], object]
    stop: Callable[[], object] = _nothing


class App:
    """Starts named steps in order and stops them in reverse; see the module docstring."""

    def __init__(self, steps: Sequence[Step]) -> None:
        names = [step.name for step in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique: {names}")
        self.steps = tuple(steps)
        self._started: list[Step] = []

    @property
    def started(self) -> list[str]:
        return [step.name for step in self._started]

    def start(self) -> None:
        for step in self.steps:
            log.info("starting: %s", step.name)
            try:
                step.start()
            except BaseException:
                log.error("could not start %s; stopping what was started", step.name)
                self.stop()
                raise
            self._started.append(step)

    def stop(self) -> None:
        while self._started:
            step = self._started.pop()
            log.info("stopping: %s", step.name)
            try:
                step.stop()
            except Exception:
                log.exception("stopping %s failed; going on with the rest", step.name)
