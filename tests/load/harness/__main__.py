"""`python -m tests.load.harness`: see tests/load/harness/cli.py."""

from tests.load.harness.cli import main

# Generator processes are spawned and re-import this module as `__mp_main__`: guard the run.
if __name__ == "__main__":
    raise SystemExit(main())
