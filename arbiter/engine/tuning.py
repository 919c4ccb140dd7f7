"""Host tuning for the tick-path process: nice/SCHED_RR, CPU pinning, CPU idle-state hold (ADR 0062).

Ray-specific only in that the arbiter actor calls it on start; nothing here decides trading.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import struct
import sys

__all__ = ["hold_cpus_awake", "pin_threads", "set_realtime", "tune_for_latency"]

log = logging.getLogger(__name__)


def tune_for_latency(priority: int, realtime: bool = False, cpus: tuple[int, ...] = ()) -> None:
    """Keep the tick path's thread from pausing: no gen-2 sweeps over the long-lived heap
    (books, pairs, clients are frozen out of the collector), rarer young collections, and, when
    the config asks for it, a higher CPU priority: ``[engine] priority`` (nice, this thread) or
    ``realtime`` (SCHED_RR, every thread of the process).
    Both need the permission (root or CAP_SYS_NICE); without it the engine runs as is."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    # Ray's threads in this process share the GIL with the event loop; a frame that arrives
    # while one of them holds it waits for the switch interval (5 ms by default)
    sys.setswitchinterval(0.0002)
    if cpus:
        pin_threads(cpus)
    try:
        if realtime:
            set_realtime()
            hold_cpus_awake()
        elif priority:
            os.setpriority(os.PRIO_PROCESS, 0, -priority)
    except (OSError, AttributeError) as exc:
        log.warning("cannot raise the tick path's priority: %s", exc)


def set_realtime(level: int = 10) -> None:
    """SCHED_RR for every thread of this process. All of them, not just the event loop's: the
    threads share the GIL, and a normal-priority thread preempted while holding it would stall
    the real-time one behind it (priority inversion). The kernel's RT throttling (95 % of a
    period by default) keeps the machine responsive even if a thread spins."""
    param = os.sched_param(level)
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setscheduler(int(tid), os.SCHED_RR, param)


def pin_threads(cpus: tuple[int, ...] | set[int]) -> None:
    """Every thread of this process onto ``cpus`` (``[engine] tick_cpus``).

    A woken tick path can land on a CPU busy with another real-time task of equal priority
    and wait for it; pinned to CPUs kept for it (the others for everything else) it never
    does. All threads, for the GIL reason :func:`set_realtime` gives. A CPU this machine does
    not have is an error worth a warning, not a dead engine.
    """
    try:
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(tid), set(cpus))
    except OSError as exc:
        log.warning("cannot pin the tick path to CPUs %s: %s", sorted(cpus), exc)


#: the open PM QoS request (the kernel honours it while the descriptor stays open)
_CPU_QOS_FD: int | None = None


def hold_cpus_awake(path: str = "/dev/cpu_dma_latency") -> bool:
    """Ask the kernel for a 0 µs CPU wake-up latency for as long as this process lives.

    Between two frames (~20 ms at the benchmark's pace, seconds in quiet markets) an idle vCPU
    halts, and waking it adds tens of µs to milliseconds to the frame that ends the wait: the
    p99 of the tick path dropped from 7.7 ms to 4.7 ms with this alone (ADR 0066). It is the
    PM QoS request tuned's latency-performance profile makes: idle CPUs poll instead of
    halting, which costs power (or the host's CPU), not the guest's, since polling only runs
    when nothing else is runnable. Returns False where the device is missing or not writable.
    """
    global _CPU_QOS_FD
    if _CPU_QOS_FD is not None:
        return True
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        log.warning("cannot hold CPUs out of idle states (%s): %s", path, exc)
        return False
    os.write(fd, struct.pack("i", 0))
    _CPU_QOS_FD = fd
    return True

