"""make's stage server: one process per `make` run imports the pipeline once, and every stage
that make starts runs in a fork of it, so a stage starts in milliseconds instead of after half
a second or more of imports (geopandas, scipy, numba, folium).

Each stage is still a process of its own, with its own log, exit code and memory, as before:
`python -m pipeline <stage>` (what the Makefile runs) connects to the server, hands it its
arguments, working directory, environment and its stdin, stdout and stderr, and waits. The
server forks; the fork takes on those and runs the stage exactly as `python -m pipeline` would
(:func:`pipeline.cli.main`), writing to make's terminal or pipe. The waiting command passes on
Ctrl-C and other signals to the stage, and ends with the stage's exit code; if it is killed,
the stage is killed too. Where there is no server (a stage run by hand, another system than
Linux, `make server=no`, the server not yet listening), the command runs the stage itself.
To profile a stage under make, use `make server=no` (a profiler attached to the command would
see it wait).

The server (`python -m pipeline serve-stages PID`) is started by the Makefile's first step
(`python -m pipeline deps --serve-stages`), listens on an abstract Unix socket named after the
user and make's process, answers only that user (and the commands talk only to a server of
their own user), and ends when make does. It imports the stages' code in the order make needs
it, answering between modules, so the first stages already gain while it still imports the
later ones.

This module is imported by every `python -m pipeline` before anything else: it imports only
the standard library.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

__all__ = ["run_on_server", "serve", "start_server"]

ENV = "PIPELINE_STAGE_SERVER"  # make's process id, set by the Makefile for its stages
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _address(make_pid: str) -> bytes:
    """The abstract socket (Linux: no file to leave behind) of this user's server for make
    process `make_pid`."""
    return f"\0anchor-access-stages-{os.getuid()}-{make_pid}".encode()


def _peer_uid(conn: socket.socket) -> int:
    """The user of the process at the other end of a Unix socket (the kernel's word for it)."""
    return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]


# --- the command make runs ------------------------------------------------------------------


def run_on_server(argv: list[str]) -> int | None:
    """Run `python -m pipeline ARGV` in a fork of make's stage server; its exit code, or None
    where there is no server to ask (the caller then runs the stage itself)."""
    make_pid = os.environ.get(ENV, "")
    if not make_pid.isdigit() or not sys.platform.startswith("linux"):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(_address(make_pid))
        if _peer_uid(conn) != os.getuid():  # someone else's socket by that name: not ours
            raise ConnectionRefusedError
        request = json.dumps(
            {"argv": argv, "argv0": sys.argv[0], "cwd": str(Path.cwd()), "env": dict(os.environ)}
        ).encode()
        socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
    except OSError:  # no server, or no stdin/stdout/stderr to hand over
        conn.close()
        return None
    replies = conn.makefile("rb")
    first = replies.readline().split()
    if first[:1] != [b"pid"]:  # the server ended before it started the stage
        conn.close()
        return None
    stage_pid = int(first[1])

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):  # it has just ended
            os.kill(stage_pid, signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    last = replies.readline().split()
    if last[:1] != [b"exit"]:
        print("error: the stage's process ended without saying how; re-run", file=sys.stderr)
        return 1
    return int(last[1])


# --- the server -----------------------------------------------------------------------------


def start_server() -> None:
    """Start make's stage server in the background, if make asked for one and none runs yet."""
    import subprocess

    make_pid = os.environ.get(ENV, "")
    if not make_pid.isdigit() or not sys.platform.startswith("linux"):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(_address(make_pid))
        return  # one is listening already
    except OSError:
        pass
    finally:
        probe.close()
    subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve-stages", make_pid],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # not make's pipes, which would stay open while it runs
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the stages through their commands
        close_fds=True,
    )


def serve(
    make_pid: int,
    preload: Iterable[str | Callable[[], object]],
    run: Callable[[list[str]], NoReturn],
) -> None:
    """Be make's stage server: import the modules of `preload` one by one (and call its
    functions), and for every request fork a process that runs `run(argv)` as the command
    would have; until make ends."""
    try:
        make = os.pidfd_open(make_pid)
    except (OSError, AttributeError):  # make is gone, or the kernel is older than 5.3
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(_address(str(make_pid)))
    except OSError:  # another server won the race
        return
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the request handlers reap themselves
    for step in preload:
        _answer(listener, make, run, timeout=0)  # a request waits no longer than one step
        # What fails here is done again by the stage that needs it, which says why.
        with contextlib.suppress(Exception):
            step() if callable(step) else importlib.import_module(step)
    while True:
        _answer(listener, make, run, timeout=None)


def _answer(listener: socket.socket, make: int, run, timeout: float | None) -> None:
    """Start a handler for every waiting request; leave when make has ended."""
    while True:
        ready, _, _ = select.select([listener, make], [], [], timeout)
        if make in ready:
            os._exit(0)
        if not ready:
            return
        conn, _ = listener.accept()
        if _peer_uid(conn) != os.getuid():
            conn.close()
            continue
        if os.fork() == 0:
            listener.close()
            os.close(make)
            _handle(conn, run)
        conn.close()
        timeout = 0


def _handle(conn: socket.socket, run) -> None:
    """One request, in a fork of the server: fork the stage, tell the command its process id,
    wait for it, and send its exit code (or kill it if the command is gone). Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        request, fds = _read_request(conn)
    except (OSError, ValueError):
        os._exit(1)
    stage = os.fork()
    if stage == 0:
        conn.close()
        _run_stage(request, fds, run)
    for fd in fds:
        os.close(fd)
    stage_fd = os.pidfd_open(stage)
    try:
        conn.sendall(f"pid {stage}\n".encode())
        while True:
            ready, _, _ = select.select([conn, stage_fd], [], [])
            if stage_fd in ready:
                break
            if not conn.recv(1):  # the command was killed: so is its stage
                os.kill(stage, signal.SIGKILL)
                break
    except OSError:
        os.kill(stage, signal.SIGKILL)
    _, status = os.waitpid(stage, 0)
    code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(OSError):  # the command is gone
        conn.sendall(f"exit {code if code >= 0 else 128 - code}\n".encode())
    os._exit(0)


def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    if len(fds) != 3 or len(data) < 4:
        raise ValueError("a request needs its length, and stdin, stdout and stderr")
    (size,) = struct.unpack("!I", data[:4])
    data = data[4:]
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            raise ValueError("the request ended early")
        data += more
    return json.loads(data), fds


def _run_stage(request: dict, fds: list[int], run) -> None:
    """Become `python -m pipeline ARGV` as the command started it, run it, exit."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for name, fd in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        setattr(
            sys,
            name,
            open(  # noqa: SIM115 (the process's own stream, never closed)
                fd,
                "r" if fd == 0 else "w",
                encoding=old.encoding,
                errors=old.errors,
                # as Python sets them up: stderr always by line, stdout at a terminal
                buffering=1 if fd == 2 or (fd == 1 and os.isatty(1)) else -1,
                closefd=False,
            ),
        )
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [request["argv0"], *request["argv"]]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # (SIGCHLD: the handler's default)
    run(request["argv"])
