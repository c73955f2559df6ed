"""Rebuilding an Edge shard beside the live one: the niced child process that optimizes the copy, the lock that
child holds while it works, and the repair of a swap cut short.

The child holds `<collection>.rebuild.lock` for its whole life and is killed by the kernel if the thread that
started it dies (PR_SET_PDEATHSIG), so a crashed server leaves no optimizer behind; should one survive anyway, a
restarted server waits for its lock before it touches the copy (`recover_swap`, `optimize`)."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from assistant.storage.engines.base import EngineUnavailable

# The child: take the rebuild lock (held until it exits), optimize the copy, flush, close.
_OPTIMIZE_CHILD = ("import fcntl, sys, qdrant_edge as q; lock = open(sys.argv[2], 'a+'); "
                   "fcntl.flock(lock, fcntl.LOCK_EX); s = q.EdgeShard.load(sys.argv[1]); s.optimize(); s.flush(); "
                   "s.close()")
_PR_SET_PDEATHSIG = 1


def lock_path(live: Path) -> Path:
    return live.with_name(f".{live.name}.rebuild.lock")


def _dies_with(parent: int):
    def setup() -> None:  # in the child, between fork and exec
        os.nice(10)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # not Linux: the lock still keeps a restarted server off the copy
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return setup


def spawn_optimizer(work: Path, live: Path) -> subprocess.Popen[str]:
    """Start the child that optimizes the shard copy in `work`."""
    return subprocess.Popen([sys.executable, "-c", _OPTIMIZE_CHILD, str(work), str(lock_path(live))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_dies_with(os.getpid()))


@contextlib.contextmanager
def rebuild_lock(live: Path, timeout: float = 600.0) -> Iterator[None]:
    """Hold the rebuild lock: no optimizer child, ours or a survivor of an earlier process, is using the copy."""
    handle = open(lock_path(live), "a+")  # noqa: SIM115 - closed below
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise EngineUnavailable("an index rebuild started by an earlier process is still running; "
                                            "try again when it ends") from None
                time.sleep(0.1)
        yield
    finally:
        handle.close()


def recover_swap(live: Path, timeout: float = 600.0) -> None:
    """Finish or undo a swap cut short by a crash: the live shard is whole in every case. Waits first for any
    optimizer still holding the rebuild lock."""
    work = live.with_name(live.name + ".next")
    old = live.with_name(live.name + ".old")
    with rebuild_lock(live, timeout):
        if not live.exists() and old.exists():
            os.rename(old, live)  # killed between the two renames: the copy may be half-made, the old one is whole
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
