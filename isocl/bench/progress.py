"""Progress on the terminal for every phase that takes more than a moment.

:func:`phase` wraps one step: a counted one (``total=N``, advanced by the
caller: units, figures) as a tqdm bar, an uncounted wait (loading data) as a
line; a background thread redraws either twice a second, so that the elapsed
time moves during a long step. Both
write to stderr, vanish when done (``leave=False``) and print nothing when
``enabled`` is false (``--quiet``, or stderr not a terminal for the timer).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

__all__ = ["REFRESH_S", "phase"]

REFRESH_S = 0.5
"""How often an uncounted phase's elapsed time is redrawn (seconds)."""


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return False


@contextmanager
def phase(desc: str, *, total: int | None = None, enabled: bool = True,
          position: int | None = None) -> Iterator[Callable[[str | None], None]]:
    """``with phase("figures", total=9) as step: ... step("spectra")`` advances the bar by one and names
    what comes next; ``with phase("loading CIFAR-10"):`` shows the elapsed time until the block ends."""
    bar = tqdm(total=total, desc=desc, disable=not enabled, leave=False, position=position, file=sys.stderr,
               bar_format=None if total is not None else "{desc}: {elapsed}")
    stop = threading.Event()
    ticker = None
    # counted phases too: a long step still shows its time passing; only on a terminal (a log file redirected
    # from stderr would otherwise collect two redraws a second for the whole run)
    if enabled and not bar.disable and _is_terminal(sys.stderr):
        def tick():
            while not stop.wait(REFRESH_S):
                bar.refresh()

        ticker = threading.Thread(target=tick, name=f"isocl-progress-{desc}", daemon=True)
        ticker.start()
    started = [False]

    def step(label: str | None = None) -> None:
        if started[0]:
            bar.update()
        started[0] = True
        if label:
            bar.set_postfix_str(label)

    try:
        yield step
        if started[0]:
            bar.update()
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        bar.close()
