"""Sweeps over many points, spread over the cores.

The compiled engines release the GIL (``nogil``), so Python threads run them
in parallel.  A sweep is cut into chunks of ``CHUNK`` consecutive points,
each solved with warm starts inside the chunk and a cold start at its first
point; the chunks are the unit of parallel work.  Because the cut does not
depend on the number of threads, the results are the same bits whatever the
thread count (one thread included).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["CHUNK", "threads", "set_threads", "run_chunks"]

CHUNK = 256
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_threads: int | None = None


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:      # not on Linux
        return max(1, os.cpu_count() or 1)


def threads() -> int:
    """Threads used for sweeps: ``set_threads`` if called, else the
    environment variable ``ASYMPTOTICS_NUM_THREADS``, else the usable cores."""
    if _threads is not None:
        return _threads
    env = os.environ.get("ASYMPTOTICS_NUM_THREADS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"ASYMPTOTICS_NUM_THREADS must be a positive integer, got {env!r}") from None
        if value >= 1:
            return min(value, 256)
        raise ValueError(f"ASYMPTOTICS_NUM_THREADS must be a positive integer, got {env!r}")
    return _available_cores()


def set_threads(n: int | None) -> None:
    """Use ``n`` threads for sweeps (None: back to the default)."""
    global _threads, _pool
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256):
        raise ValueError(f"n must be an integer in 1..256 or None, got {n!r}")
    with _lock:
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asymptotics")
        return _pool


def run_chunks(n_points: int, solve) -> None:
    """Call ``solve(start, stop)`` on every chunk of ``range(n_points)``, in
    parallel threads when there is more than one chunk and more than one
    thread.  ``solve`` writes its own slice of the outputs."""
    bounds = [(a, min(a + CHUNK, n_points)) for a in range(0, n_points, CHUNK)]
    workers = min(threads(), len(bounds))
    if workers <= 1:
        for a, b in bounds:
            solve(a, b)
        return
    for future in [_executor(workers).submit(solve, a, b) for a, b in bounds]:
        future.result()
