"""The error hierarchy: every failure a user can cause is an ``S2EditError``.

The CLI turns these into one-line messages and exit codes; anything else is a bug
and keeps its traceback.
"""

__all__ = [
    "S2EditError",
    "InputError",
    "CheckpointError",
    "UnknownFormatError",
    "UnsafeCheckpointError",
    "OpUnavailableError",
    "ShapeError",
    "Interrupted",
]


class S2EditError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class InputError(S2EditError):
    """Bad user input: a missing or unreadable file, a malformed argument."""

    exit_code = 2


class CheckpointError(S2EditError):
    """A checkpoint that cannot be loaded (corrupt, truncated, inconsistent)."""

    exit_code = 2


class UnknownFormatError(CheckpointError):
    """No known checkpoint format matches the file."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle references a global outside the allowlist; it is refused, never executed."""


class OpUnavailableError(S2EditError):
    """An op implementation was requested explicitly but cannot run here."""


class ShapeError(S2EditError, ValueError):
    """A tensor does not have the shape an API expects."""

    exit_code = 2


class Interrupted(S2EditError):
    """The user stopped a command (Ctrl-C, SIGTERM) and it stopped cleanly; the message says what was kept."""

    exit_code = 130
