import atexit
import gc
import os
import sys

# Young objects are collected every 700 allocations by default, and every tenth of those passes
# leads to a full pass over the ~150 000 objects of the imported libraries (66 ms each, 0.4 s of
# an oblast's catchments stage). A larger young generation makes full passes rare; cycles are
# still collected.
gc.set_threshold(10_000, 10, 10)

from pipeline.cli import main  # noqa: E402

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
