"""Process pools whose processes end with the process that started them.

A process killed with SIGKILL (a worker stopped hard, `kill -9` on a command) cannot shut its
pool down. Its pool's processes would then wait on their task queue for ever, each holding the
queue's pipe open for the others, and whatever files and memory they had. Under a forkserver
they outlive it twice over: each also holds the pipe the server watches for its client's end.
Each process made here watches the one that started it through a pidfd instead, and exits when
it is gone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from select import select as wait_readable


def pool(
    workers: int,
    *,
    context: BaseContext | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> ProcessPoolExecutor:
    """A ProcessPoolExecutor of `workers` processes that each exit when this process dies;
    `initializer(*initargs)` runs in each (a module-level function, as the pool requires)."""
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start,
        initargs=(os.getpid(), initializer, initargs),
    )


def _start(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    exit_with(parent)
    if initializer is not None:
        initializer(*initargs)


def exit_with(parent: int) -> None:
    """End this process when process `parent` ends (at once if it already has)."""
    try:
        watched = os.pidfd_open(parent)
    except ProcessLookupError:  # it died before we got here
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3 or later: left to the pool's own checks
        return

    def wait() -> None:
        wait_readable([watched], [], [])
        os._exit(1)

    threading.Thread(target=wait, name="exit-with-parent", daemon=True).start()
