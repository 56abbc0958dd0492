"""The error a user's mistake raises, and how the ``fgi`` command shows errors.

:class:`UserError` is a ``ValueError`` whose message is complete on its own: it names the
thing that is wrong (a name, a path, a file with line and column) and what to do about it. The
``fgi`` command prints such messages as one line, ``error: <message>``, and exits with status 2;
``fgi --debug ...`` (or ``FGI_DEBUG=1``) shows the traceback instead.

Example:
    >>> from fgi_core.errors import UserError
    >>> isinstance(UserError("no folder runs/x"), ValueError)
    True
"""
from __future__ import annotations

import os

__all__ = ["UserError", "USER_ERRORS", "EXIT_USER_ERROR", "debug_requested", "error_line"]

#: Exit status of ``fgi`` after a user's mistake (argparse uses 2 for bad options too).
EXIT_USER_ERROR = 2


class UserError(ValueError):
    """A mistake in what the user gave (a name, a path, a file's content); the message says what to do."""


#: What ``fgi`` reports as one line: errors raised for what the user gave (unknown names, missing
#: or unreadable files, malformed CSV rows). Anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, ValueError, KeyError, OSError)


def debug_requested(flag: bool = False) -> bool:
    """True with ``--debug`` or when ``$FGI_DEBUG`` is set to anything but ``""``/``0``/``false``/``no``."""
    return bool(flag) or os.environ.get("FGI_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def error_line(err: BaseException) -> str:
    """``error: <message>`` on one line (a KeyError's message without the quotes ``str()`` adds)."""
    message = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str) else str(err)
    if not message or (isinstance(err, KeyError) and " " not in message):  # a bare key: a bug more likely than a mistake
        message = f"{type(err).__name__}: {message} (fgi --debug shows where)"
    if isinstance(err, OSError) and not isinstance(err, UserError) and err.filename and str(err.filename) not in message:
        message = f"{message}: {err.filename}"
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return "error: " + " ".join(lines)
