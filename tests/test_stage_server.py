"""make's stage server (pipeline/stage_server.py): a stage run through it answers exactly as one
run on its own (output, error line, exit code), runs in the server's process tree rather than
importing the pipeline itself, gets Ctrl-C from its command, dies with its command, and the
server ends with its make.

A "make" here is any process whose id the commands name in PIPELINE_STAGE_SERVER: a `sleep`
the test ends when it wants the server gone. The stage that takes long is a real fetch from a
socket on 127.0.0.1 that accepts the connection and never answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipeline import stage_server
from pipeline.config import PROJECT_ROOT
from pipeline.stage_server import ENV, _address

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def _env(make_pid: int | None, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PIPELINE_ROOT"] = str(root)
    if make_pid is not None:
        env[ENV] = str(make_pid)
    return env


def _pipeline(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False, **kwargs,
    )  # fmt: skip


def _servers_of(make_pid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline[-2:] == ["serve-stages", str(make_pid)]:
            found.append(process)
    return found


@pytest.fixture
def make_stand_in(tmp_path) -> Iterator[tuple[subprocess.Popen, psutil.Process]]:
    """A process standing in for make, and its stage server, ready to answer."""
    make = subprocess.Popen(["sleep", "600"])
    started = _pipeline(
        "-c", "from pipeline.stage_server import start_server; start_server()",
        env=_env(make.pid, tmp_path),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 30
    while True:  # until it listens (it answers between the modules it imports)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(_address(str(make.pid)))
                break
            except OSError:
                assert time.monotonic() < deadline, "the stage server never listened"
        time.sleep(0.05)
    (server,) = _servers_of(make.pid)
    # The probe was a request too: its handler ends at once, having read nothing. The tests
    # count the server's children, so they start once it is gone.
    psutil.wait_procs(server.children(), timeout=30)
    yield make, server
    make.kill()
    make.wait()
    server.wait(timeout=30)


def test_a_stage_answers_through_the_server_as_it_does_alone(make_stand_in, tmp_path):
    make, server = make_stand_in
    for args, code in (
        (["regions"], 0),
        (["extract", "--region", "no_such_region"], 2),
        (["catchments", "--bogus"], 2),
    ):
        alone = _pipeline("-m", "pipeline", *args, env=_env(None, tmp_path))
        served = _pipeline(
            "-X", "importtime", "-m", "pipeline", *args, env=_env(make.pid, tmp_path)
        )
        assert (served.returncode, served.stdout) == (alone.returncode, alone.stdout)
        assert alone.returncode == code, alone.stderr
        lines = [line for line in served.stderr.splitlines() if not line.startswith("import time")]
        assert lines == alone.stderr.splitlines()
        # The command itself imported none of the pipeline's code beyond the server's client:
        # the stage ran in a fork of the server, which had.
        imported = [line.split("|")[-1].strip() for line in served.stderr.splitlines()]
        assert "pipeline.stage_server" in imported
        assert "pipeline.cli" not in imported and "numpy" not in imported
    assert server.is_running()


def test_the_server_ends_with_its_make(make_stand_in):
    make, server = make_stand_in
    make.kill()
    make.wait()
    server.wait(timeout=10)  # (raises if it lives on)
    assert not server.is_running()


def test_no_server_the_command_runs_the_stage_itself(tmp_path):
    nobody = subprocess.Popen(["sleep", "600"])  # a make that started no server
    try:
        result = _pipeline(
            "-X", "importtime", "-m", "pipeline", "regions", env=_env(nobody.pid, tmp_path)
        )
    finally:
        nobody.kill()
        nobody.wait()
    assert result.returncode == 0 and "andorra" in result.stdout.split()
    assert "pipeline.cli" in [line.split("|")[-1].strip() for line in result.stderr.splitlines()]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """The address of a server on 127.0.0.1 that takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/extract.osm.pbf"


def _stalled_fetch(make_pid: int, tmp_path: Path, url: str) -> subprocess.Popen:
    region = tmp_path / "stalled.toml"
    region.write_text(
        'name = "stalled"\ndisplay_name = "Stalled"\n'
        f'[source]\nurls = ["{url}"]\n'
        "[boundary]\nrelation_id = 9407\nadmin_level = 2\ndistrict_admin_level = 7\n"
        '[anchors]\nnames = ["Town"]\n',
        encoding="utf-8",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "fetch", "--config", str(region), "--quiet"],
        cwd=PROJECT_ROOT, env=_env(make_pid, tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _stage_of(server: psutil.Process, timeout_s: float = 30) -> psutil.Process:
    """The stage process the server forked (a child of its request's handler)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        handlers = server.children()
        stages = [s for h in handlers for s in h.children()]
        if stages:
            return stages[0]
        time.sleep(0.02)
    raise AssertionError("the server forked no stage")


def test_ctrl_c_at_the_command_interrupts_its_stage(make_stand_in, tmp_path, silent_server):
    make, server = make_stand_in
    command = _stalled_fetch(make.pid, tmp_path, silent_server)
    stage = _stage_of(server)
    time.sleep(0.5)  # the stage is waiting for the download to start
    command.send_signal(signal.SIGINT)
    _, stderr = command.communicate(timeout=60)
    assert command.returncode == 130, stderr
    assert stderr.splitlines()[-1].startswith("error: interrupted"), stderr
    assert not stage.is_running() or stage.status() == psutil.STATUS_ZOMBIE


def test_a_killed_command_takes_its_stage_with_it(make_stand_in, tmp_path, silent_server):
    make, server = make_stand_in
    command = _stalled_fetch(make.pid, tmp_path, silent_server)
    stage = _stage_of(server)
    command.kill()
    command.communicate()
    stage.wait(timeout=10)  # (raises if the stage lives on)
    assert not stage.is_running()
    assert server.is_running()


def test_a_command_talks_only_to_a_server_of_its_own_user(make_stand_in, monkeypatch):
    """A socket of that name held by another user's process is not make's server: the command
    hands it nothing (not its environment, not its terminal) and runs the stage itself."""
    make, server = make_stand_in
    monkeypatch.setenv(ENV, str(make.pid))
    monkeypatch.setattr(stage_server, "_peer_uid", lambda conn: os.getuid() + 1)
    assert stage_server.run_on_server(["regions"]) is None
    assert server.children() == []  # it was asked nothing
