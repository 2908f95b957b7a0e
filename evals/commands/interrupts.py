"""Ctrl-C during a run, at any moment: the run ends with a final status and no traceback.

The handler only counts. A signal handler runs in the main thread between any two bytecodes, inside whatever lock
that thread holds (an Event's, the tally's, a stream's) or inside a gc callback that would swallow its exception;
so acting on a Ctrl-C (events, locks, printing) happens on a watcher thread instead. What a Ctrl-C does depends on
the phase of the run:

- setting up (nothing written, nothing in flight): the first is remembered, a second stops the run here;
- from the moment the run directory is being written: counted, acted on once the runner is attached;
- running: first, stop sending and drain; second, stop waiting for requests in flight;
- finishing (records closed, the emulator stopping, run.json being written): counted and otherwise ignored, so
  the final status is always written; only the report and history index, rendered after it, may be cut short.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, Protocol

SETUP, HOLDING, RUNNING, FINISHING = "setup", "holding", "running", "finishing"
_process = {"entry": False}


def mark_process_entry() -> None:
    """This process is the command-line program: once a run's final status is written, Ctrl-C is ignored to the
    process's exit (interpreter shutdown included), instead of being handed back to Python's default handler."""
    _process["entry"] = True


def after_run_handler(previous: Any) -> Any:
    """The SIGINT handler to leave in place when a run returns."""
    return signal.SIG_IGN if _process["entry"] else previous


class Stoppable(Protocol):
    def interrupt(self) -> None: ...

    def abort(self) -> None: ...


class Interrupts:
    """The SIGINT handler of one run and the watcher that acts on it."""

    POLL_S = 0.05

    def __init__(self) -> None:
        self.count = 0
        self.phase = SETUP
        self._interruptible = False
        self._done = threading.Event()

    def on_sigint(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.phase == SETUP and self.count > 1:
            raise KeyboardInterrupt
        if self._interruptible:
            # one KeyboardInterrupt per stretch, cleared here: the next signal of a storm can land in the stretch's
            # own cleanup before it clears the flag, and would then leave Ctrl-C raising to the process's exit
            self._interruptible = False
            raise KeyboardInterrupt

    def hold(self) -> None:
        """From here on a Ctrl-C never raises until the run is finishing: the run directory is being written."""
        self.phase = HOLDING

    def attach(self, runner: Stoppable) -> None:
        """Act on Ctrl-Cs from now on (including one that came while the run was being set up)."""
        self.phase = RUNNING
        threading.Thread(target=self._watch, args=(runner,), daemon=True, name="interrupts").start()

    def detach(self) -> None:
        """The runner has returned: Ctrl-Cs are counted and ignored until the final status is written."""
        self.phase = FINISHING
        self._done.set()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A stretch (after the final status) that a Ctrl-C may cut short with KeyboardInterrupt."""
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def _watch(self, runner: Stoppable) -> None:
        seen = 0
        while seen < 2 and not self._done.wait(self.POLL_S):
            if seen == 0 and self.count >= 1:
                seen = 1
                runner.interrupt()
                print("\ninterrupted: no new requests; waiting for in-flight ones", file=sys.stderr)
            if self.count >= 2:
                seen = 2
                # said before it is done: once aborted, the main thread may finish and exit at once
                print("aborted: requests still in flight stay unrecorded; a resume sends them", file=sys.stderr)
                runner.abort()
