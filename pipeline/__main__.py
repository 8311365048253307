import atexit
import os
import sys

from pipeline.cli import main

code = main()
# Leave without the interpreter's teardown, which frees every module and object one by one:
# 0.2-0.4 s per stage process, paid once per stage by `make`. Everything is written, closed and
# renamed into place by now; the exit handlers still run (logging's flush among them).
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code if isinstance(code, int) else 1)
