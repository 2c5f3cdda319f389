"""One error type for a user's mistake, so every stage reports bad input the same way.

A reader that finds a problem in a file the user supplied raises :class:`InputError` with the path
and the 1-based line (``None`` when the problem is the file as a whole). Scripts catch it and print
``path:line: message`` — one line per problem, no traceback — and exit non-zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Problem:
    """One thing wrong with an input: where, and what to do about it."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else f"{self.path}"
        return f"{where}: {self.message}"


class InputError(Exception):
    """A user's input is wrong. Carries one or more :class:`Problem`s, each printed on one line."""

    def __init__(self, path: str | Path | None = None, line: int | None = None,
                 message: str = "", *, problems: list[Problem] | None = None) -> None:
        self.problems: list[Problem] = list(problems or [])
        if path is not None or message:
            self.problems.insert(0, Problem(str(path or ""), line, message))
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def collect(cls, problems: list[Problem]) -> "InputError":
        """Bundle problems found while checking a whole input, so the user sees all of them at once."""
        return cls(problems=problems)


def raise_if(problems: list[Problem]) -> None:
    """Raise one InputError carrying every problem, if there are any."""
    if problems:
        raise InputError.collect(problems)
