"""A process's own peak resident memory, for the benchmarks."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's own peak RSS in MiB: ``VmHWM`` where /proc exists.

    Not ``ru_maxrss`` there: Linux carries it across exec, so a process started by a parent
    that had just planned 100,000 articles reports the parent's peak (measured: a fresh
    child of a 311 MB parent reported 311 MB; its own VmHWM was 11.5 MB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
