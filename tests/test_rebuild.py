"""The index rebuild's child process dies with the server that started it, and holds a lock that a restarted
server waits for before it touches the shard copy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from assistant.storage.engines.base import EngineUnavailable
from assistant.storage.engines.rebuild import lock_path, recover_swap

PARENT = """
import os, subprocess, sys, time
from assistant.storage.engines.rebuild import _dies_with
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=_dies_with(os.getpid()))
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its reaper is gone for our purpose
        return f.read().split(") ")[1][0] != "Z"


def test_the_optimizer_child_dies_with_its_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    os.kill(parent.pid, signal.SIGKILL)  # a crash: no cleanup code runs in the parent
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_restarted_store_waits_for_a_surviving_rebuild(tmp_path):
    live = tmp_path / "passages"
    live.mkdir()
    work = tmp_path / "passages.next"
    work.mkdir()
    (work / "segment").write_text("being written by a survivor")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(2)",
                               str(lock_path(live))], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(EngineUnavailable):
        recover_swap(live, timeout=0.3)  # gives up cleanly rather than pull the copy from under it
    assert (work / "segment").exists()
    started = time.monotonic()
    recover_swap(live, timeout=30)  # waits for the lock, then drops the half-made copy
    assert time.monotonic() - started > 1.0 and holder.wait(5) == 0
    assert not work.exists() and live.exists()
