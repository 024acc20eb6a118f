"""The default number of CPU threads for PyTorch: the cores this process may use that nothing else is
busy on right now.

PyTorch's default (one thread per core) collapses on a shared machine: every parallel region waits for
its slowest thread, and a thread that shares its core with another busy process runs only part of the
time. On the 2-core CPU with other work running, the network's forward pass on sax_45_23 took 4.5 s
with 2 threads and 0.94 s with 1 (``benchmarks/whole_process.py``). Standard library only: no PyTorch.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path


def usable_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _running_tasks() -> int | None:
    """Runnable tasks on the whole machine now, less this process's own (``/proc``); None elsewhere."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running "):
                running = int(line.split()[1])
                break
        else:
            return None
        own = 0
        for task in Path("/proc/self/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2:].startswith("R"):
                own += 1
        return max(0, running - own)
    except (OSError, ValueError):
        return None


def busy_cores(samples: int = 5, interval_s: float = 0.004) -> float | None:
    """About how many of the machine's cores other processes keep busy: the median of a few readings
    of the runnable tasks (Linux), else the 1-minute load average; None when neither is known."""
    readings = []
    for index in range(samples):
        if index:
            time.sleep(interval_s)
        running = _running_tasks()
        if running is None:
            break
        readings.append(running)
    if readings:
        return float(statistics.median(readings))
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)  # the load includes this process
    except (AttributeError, OSError):
        return None


def default_threads() -> int:
    """The usable cores less those other processes are busy on (at least 1). The busy count is
    machine-wide, so where this process may use only some of the machine's cores (a container, a CPU
    set) it is scaled to that share. ``OMP_NUM_THREADS``, when set, is the user's choice and wins."""
    chosen = os.environ.get("OMP_NUM_THREADS", "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    usable = usable_cores()
    busy = busy_cores()
    if busy is None:
        return usable
    share = usable / max(usable, os.cpu_count() or usable)
    return max(1, min(usable, usable - round(busy * share)))
