"""A Ctrl-C anywhere while a stage writes its files leaves no hidden file and no half-written one.

Ctrl-C reaches Python as a KeyboardInterrupt between any two lines of Python code. These tests
raise one at each line in turn (with a trace function, which sees every line run), from the
moment a file's writing starts to the moment its rename is done, and look at the folder after
each: every target holds either its earlier bytes or its new bytes, and no `.tmp-*` file is left.
"""

from __future__ import annotations

import contextvars
import dis
import sys
from pathlib import Path

import pipeline._io
from pipeline._io import atomic_path, one_commit

_NOP = dis.opmap["NOP"]
_TRACED = {pipeline._io.__file__, __file__}


class _InterruptAtLine:
    """A trace function that raises KeyboardInterrupt at the n-th line run, counting from 1.

    It counts the lines of the project's writing code and of this file's writers. The standard
    library's own lines are left out: an interrupt inside a lock's bookkeeping there (tempfile's
    name sequence, say) would hang the next write in this process, which is the library's
    affair and not what is tested here.
    """

    def __init__(self, n: int):
        self.n = n
        self.seen = 0
        self.fired = False

    def __call__(self, frame, event, arg):
        if event == "call":
            return self if frame.f_code.co_filename in _TRACED else None
        if event == "line" and not self.fired and not _at_a_nop(frame):
            self.seen += 1
            if self.seen == self.n:
                self.fired = True
                raise KeyboardInterrupt
        return self


def _at_a_nop(frame) -> bool:
    """Whether the line starts with a NOP, as a `try:` line does. Python never looks for a signal
    there (only at calls and jumps), and an exception raised there by a trace function is not
    seen by the `try` that follows it, which no real Ctrl-C could do."""
    return frame.f_code.co_code[frame.f_lasti] == _NOP


def _interrupted_runs(write):
    """Run `write` once per line it runs, with a Ctrl-C at that line; yield after each run."""
    n = 0
    while True:
        n += 1
        trace = _InterruptAtLine(n)
        # in a context of its own, as each stage runs in a process of its own: a stage that was
        # interrupted ends, and what it held in memory goes with it
        contextvars.copy_context().run(_run_traced, write, trace)
        yield n
        if not trace.fired:  # the run got through every line: each has had its interrupt
            return


def _run_traced(write, trace) -> None:
    sys.settrace(trace)
    try:
        write()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


def test_an_interrupt_at_any_line_of_one_file_s_writing_leaves_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "region.gpkg"
    target.write_bytes(b"earlier")

    def write():
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")

    lines = 0
    for lines in _interrupted_runs(write):
        assert _hidden(tmp_path) == [], f"interrupted at line {lines}"
        assert target.read_bytes() in (b"earlier", b"new"), f"interrupted at line {lines}"
        target.write_bytes(b"earlier")
    assert lines > 10  # the trace really saw the writing's lines


def test_an_interrupt_at_any_line_of_a_stage_s_commit_leaves_no_hidden_file(tmp_path):
    targets = [tmp_path / "region.gpkg", tmp_path / "travel_time.tif"]
    for target in targets:
        target.write_bytes(b"earlier")

    def write():
        with one_commit():
            for target in targets:
                with atomic_path(target) as tmp:
                    tmp.write_bytes(b"new")

    for lines in _interrupted_runs(write):
        assert _hidden(tmp_path) == [], f"interrupted at line {lines}"
        for target in targets:
            assert target.read_bytes() in (b"earlier", b"new"), f"interrupted at line {lines}"
            target.write_bytes(b"earlier")
    assert lines > 20
