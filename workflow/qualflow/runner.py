"""How a workflow script runs a library call: logging to the rule's log, and user errors as one line.

Scripts stay thin: ``run(main, snakemake.log[0])``. An :class:`InputError` prints
``path:line: message`` per problem (to stderr and the log) and exits 1 without a traceback; any other
exception is a bug and keeps its traceback in the log.
"""
from __future__ import annotations

import logging
import sys
from typing import Callable

from .errors import InputError

log = logging.getLogger("qualflow")


def setup_logging(log_path: str | None) -> None:
    """Log progress to the rule's log file and to stderr, with timestamps for long steps."""
    console = logging.StreamHandler(sys.stderr)
    # Errors reach the console once, as the plain `path:line: message` lines run() prints.
    console.addFilter(lambda record: record.levelno < logging.ERROR)
    handlers: list[logging.Handler] = [console]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(main: Callable[[], None], log_path: str | None = None) -> None:
    """Run one step; turn a user's input error into one line per problem and exit status 1."""
    setup_logging(log_path)
    try:
        main()
    except InputError as e:
        for problem in e.problems:
            log.error("%s", problem)
            print(problem, file=sys.stderr)
        sys.exit(1)
    except Exception:
        log.exception("unexpected error (a bug in qualflow: please report it with this log)")
        raise
