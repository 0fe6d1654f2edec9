"""One exception tree for onefold, so callers can catch at the level they care about.

`TerminalError` means retrying the same input cannot help (fix the input or config);
`TransientError` means a retry may succeed (a locked file, a busy server).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class OnefoldError(Exception):
    """Base of every error onefold raises on purpose."""


class TerminalError(OnefoldError):
    """Retrying with the same input will fail the same way."""


class TransientError(OnefoldError):
    """A retry may succeed."""


class ConfigError(TerminalError):
    """`onefold.yml` or a source mapping is wrong; the message names file and key."""


class WorkspaceError(TerminalError):
    """The workspace directory is missing, not initialised or of an unknown version."""


class SourceReadError(TerminalError):
    """A source file could not be read at all (as opposed to bad rows, which are quarantined)."""


class NotFoundError(TerminalError):
    """A profile, source or record that was asked for does not exist."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return a ' Did you mean …?' hint (or '') so unknown names answer with valid ones."""
    known_list = sorted(set(known))
    close = difflib.get_close_matches(name, known_list, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known: {', '.join(known_list)}." if known_list else hint
