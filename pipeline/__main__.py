import sys

from pipeline.stage_server import run_on_server, start_server

# Started by make: the stage runs in a fork of make's stage server, which has imported the
# pipeline already (pipeline/stage_server.py); otherwise here.
code = run_on_server(sys.argv[1:])
if code is None and sys.argv[1:2] == ["deps"] and "--serve-stages" in sys.argv:
    start_server()  # before this process's own imports, so that it is ready sooner
if code is None:
    from pipeline.cli import exit_process, main, prepare_process

    prepare_process()
    exit_process(main())
sys.exit(code)
