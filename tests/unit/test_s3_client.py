"""The one S3 client factory: cached per process, and safe to use after a fork."""

from __future__ import annotations

import os
import signal
import threading
import time

from paywall import s3
from paywall.s3 import S3Endpoint, make_client

ENDPOINT = S3Endpoint("http://127.0.0.1:9", "key", "secret")


def test_clients_are_cached_per_process() -> None:
    assert make_client(ENDPOINT) is make_client(ENDPOINT)
    assert make_client(ENDPOINT) is not make_client(ENDPOINT, anonymous=True)


def test_a_forked_child_gets_a_fresh_lock_and_no_inherited_clients() -> None:
    parent_client = make_client(ENDPOINT)
    # Another thread holds the factory's lock while the process forks (a Celery or
    # LocalExecutor worker forking a task while a thread builds a client).
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with s3._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: must not deadlock, and must build its own client
        try:
            client = make_client(ENDPOINT)
            ok = client is not parent_client and not s3._lock.locked()
            os.write(write, b"ok" if ok else b"shared")
        finally:
            os._exit(0)
    release.set()
    holder.join()
    os.close(write)
    deadline = time.monotonic() + 15
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if done == (0, 0):  # deadlocked on the inherited lock
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the forked child hung on the S3 client factory's lock")
    assert os.read(read, 16) == b"ok"
    assert os.waitstatus_to_exitcode(done[1]) == 0
