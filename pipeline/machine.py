"""What the machine gives this process."""

from __future__ import annotations

import contextvars
import os
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["CORES", "on_a_thread"]

# The cores this process may use: its CPU affinity (which `taskset` or a cluster may narrow).
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def on_a_thread(function, *args, **kwargs) -> Future:
    """`function(*args, **kwargs)` started on a thread of its own; its result (or exception)
    from ``.result()``. For work that lets go of the GIL (a KD-tree's build, writing a file)
    done beside other work of the same stage. It runs in a copy of the caller's context, so a
    file it writes inside :func:`pipeline._io.one_commit` is renamed with the stage's others."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(contextvars.copy_context().run, function, *args, **kwargs)
    finally:
        pool.shutdown(wait=False)  # the thread ends when the work is done
