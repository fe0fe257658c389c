"""``MOCKSERVER_BOOT_TRACE=1``: each phase of ``serve``'s start-up on stderr.

One line a phase, ``boot: +MS ms pid PID: PHASE``, the milliseconds counted
from the start of the ``mockserver`` process (the kernel's start time of the
supervisor, so the interpreter's own start-up is in the first figure). Forked
processes (the settings check, the workers, the announcer) count from the
same instant, so their lines can be read as one timeline. Off by default: a
trace is for finding where start-up time goes (README, "Start-up"), not for
everyday logs. bench/ measures start-up from outside; this says why.
"""

import os
import sys
import time

VARIABLE = "MOCKSERVER_BOOT_TRACE"
ENABLED = os.environ.get(VARIABLE, "").strip() == "1"


def _process_start() -> float:
    """When this process started, on the monotonic clock (10 ms resolution)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            # Field 22, the start time in clock ticks after boot; the name in
            # parentheses (field 2) may hold spaces, so count after it.
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        since_start = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):  # not Linux: from here on
        since_start = 0.0
    return time.monotonic() - since_start


_STARTED = _process_start() if ENABLED else 0.0


def trace(phase: str) -> None:
    """Print ``phase`` with the time since start-up began, when tracing is on."""
    if ENABLED:
        elapsed_ms = (time.monotonic() - _STARTED) * 1000
        print(f"boot: +{elapsed_ms:.1f} ms pid {os.getpid()}: {phase}", file=sys.stderr, flush=True)
