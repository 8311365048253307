"""What the machine gives this process."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["CORES", "on_a_thread"]

# The cores this process may use: its CPU affinity (which `taskset` or a cluster may narrow).
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def on_a_thread(function, *args, **kwargs) -> Future:
    """`function(*args, **kwargs)` started on a thread of its own; its result (or exception)
    from ``.result()``. For work that lets go of the GIL (a KD-tree's build, writing a file,
    reading a GeoPackage layer) done beside other work of the same stage."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(function, *args, **kwargs)
    finally:
        pool.shutdown(wait=False)  # the thread ends when the work is done
