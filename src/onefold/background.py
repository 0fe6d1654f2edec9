"""CPU priority for the server's background threads.

On two cores, the real-time resolver and the journal loader compete with the event loop that
answers requests. Their work may wait a few milliseconds; an answer should not. Linux gives
each thread its own nice value (`setpriority` takes a thread id), so the threads whose work
can wait lower their own priority and the scheduler lets the request path run first.
"""

from __future__ import annotations

import os
import threading

#: Nice value of background threads (0 is the default, 19 the lowest priority).
BACKGROUND_NICE = 10


def lower_this_thread(nice: int = BACKGROUND_NICE) -> bool:
    """Give the calling thread `nice`; False where the platform has no per-thread priority."""
    if not hasattr(os, "setpriority"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        return False
    return True
