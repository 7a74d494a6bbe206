"""The `om` console script's entry point.

`om load-job` goes straight to the loader: it is what every AWS Batch job starts, and the
command-line framework and the API's settings, which `services.cli` imports for every other
command, would add ~0.1 s of CPU to each job's start (a loader's fixed cost is charged to every
row it loads). Every other command is `services.cli`'s typer app, unchanged.
"""

from __future__ import annotations

import sys

LOAD_JOB = "load-job"


def main() -> None:
    """Run `om`: `load-job` without the typer app, everything else with it."""
    if sys.argv[1:2] == [LOAD_JOB]:
        from services.loader.cli import main as load_job

        sys.exit(load_job(sys.argv[2:]))
    from services.cli import main as cli

    cli()
