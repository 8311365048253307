import atexit
import os
import sys

from pipeline.cli import main

code = main()
if sys.getprofile() is None and sys.gettrace() is None:  # (cProfile, coverage: a normal exit)
    # Leave without the interpreter's teardown, which frees every module and object one by
    # one: 0.2-0.4 s per stage process, paid once per stage by `make`. Everything is written,
    # closed and renamed into place by now; the exit handlers still run (logging's flush).
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
