"""The workspace lock: one run at a time across processes, re-entrant within one (nightly -> stage subflows)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from flows.workspace import workspace_lock, workspace_lock_path

HOLD = """
import sys, time
from flows.workspace import workspace_lock
with workspace_lock():
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def test_a_second_process_waits_for_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("MMPIPE_WORKSPACE_LOCK", str(tmp_path / "ws.lock"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, "2.0"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ})
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        with workspace_lock():
            waited = time.perf_counter() - started
    finally:
        holder.wait(30)
    assert waited > 1.0  # the holder kept it for 2 s after saying so
    assert workspace_lock_path() == tmp_path / "ws.lock"


def test_reentrant_across_threads_of_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MMPIPE_WORKSPACE_LOCK", str(tmp_path / "ws.lock"))
    entered = threading.Event()

    def subflow():
        with workspace_lock():
            entered.set()

    with workspace_lock():
        worker = threading.Thread(target=subflow)
        worker.start()
        worker.join(10)
    assert entered.is_set() and not worker.is_alive()


def test_default_lock_is_under_dot_prefect_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MMPIPE_WORKSPACE_LOCK", raising=False)
    monkeypatch.chdir(tmp_path)
    with workspace_lock():
        assert (tmp_path / ".prefect" / "workspace.lock").exists()
