"""What the machine gives this process."""

from __future__ import annotations

import os

__all__ = ["CORES"]

# The cores this process may use: its CPU affinity (which `taskset` or a cluster may narrow).
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
