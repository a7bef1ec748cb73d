"""Ctrl-C (SIGINT) and SIGTERM, caught for the batch as a request to stop rather than a traceback.

This module imports nothing heavy: ``hwutils run`` installs the handler before it imports the runner
(which can take several seconds on a busy machine), so a Ctrl-C that arrives while it starts up
still ends in a summary (every notebook "not started") and exit status 130, not a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as shells report it


class StopRequest:
    """The SIGINT/SIGTERM received: the first asks the batch to stop, a second (Ctrl-C pressed again)
    asks it to kill the running workers at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.count = 0

    def __call__(self, signum, frame) -> None:
        self.count += 1
        if self.signal is None:
            self.signal = signum

    @property
    def exit_status(self) -> int | None:
        """130 after SIGINT, 143 after SIGTERM, None while no signal came."""
        return EXIT_STATUS[self.signal] if self.signal is not None else None


@contextmanager
def caught_stop_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """SIGINT and SIGTERM recorded in ``stop`` inside the block; the previous handlers restored after it."""
    previous = {sig: signal.signal(sig, stop) for sig in EXIT_STATUS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
