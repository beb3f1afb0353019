"""The one error hierarchy of boute.

Every error carries a ``hint``: what the user should do next. The CLI prints
``error: <message> (hint: <hint>)`` on one line and exits 2 (3 for an infeasible
request); library callers catch :class:`BouteError`.
"""

from __future__ import annotations

import difflib
import pathlib
from collections.abc import Iterable

__all__ = [
    "BouteError",
    "InputError",
    "CatalogError",
    "PluginError",
    "InfeasibleError",
    "did_you_mean",
    "read_utf8_text",
]


class BouteError(Exception):
    """Base class of every error boute raises on purpose.

    Args:
        message: what is wrong, naming the field and the bad value.
        hint: what would fix it.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint on a single line, as the CLI prints them."""
        text = self.message if not self.hint else f"{self.message} (hint: {self.hint})"
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class InputError(BouteError):
    """A scenario, flag or argument has a bad value."""


class CatalogError(BouteError):
    """A catalog entry (GPU, model, price) is invalid or conflicts with another."""


class PluginError(BouteError):
    """A plugin could not be loaded or registered something invalid."""


class InfeasibleError(BouteError):
    """No plan satisfies the request; the message says which constraint binds."""

    exit_code = 3


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a hint naming the closest valid choices (case-insensitive).

    Args:
        name: the unknown name the user gave.
        choices: the valid names.
    """
    choices = sorted(set(choices))
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    suggestion = f"did you mean {' or '.join(repr(lowered[c]) for c in close)}? " if close else ""
    shown = ", ".join(choices[:20]) + (" ..." if len(choices) > 20 else "")
    return f"{suggestion}valid: {shown}"


def read_utf8_text(path: pathlib.Path, field: str, *, bom: bool = True, hint: str = "save the file as UTF-8") -> str:
    """The text of a user's file, or a one-line :class:`InputError` naming ``field``.

    Args:
        path: an existing file.
        field: the scenario field or option the file was given as (``quality.data``).
        bom: accept (and drop) a UTF-8 byte-order mark, as spreadsheet exports write.
        hint: the fix for text that is not UTF-8.

    Raises:
        InputError: the bytes are not UTF-8 (naming the first bad byte and its offset) or
            the file cannot be read.
    """
    try:
        return path.read_bytes().decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{field}: {path.name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})", hint=hint
        ) from None
    except OSError as exc:
        raise InputError(f"{field}: cannot read {str(path)!r}: {exc.strerror}", hint="check the path and its permissions") from None
