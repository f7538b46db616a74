"""Errors the worker reports to the user (a clear message, never a bare traceback)."""

from __future__ import annotations


class MocapError(Exception):
    """Base class for errors with a message meant for the user.

    ``exit_code`` is the process exit status the CLI uses for this error.
    """

    exit_code: int = 1


class InputError(MocapError):
    """The user's input (footage, keypoint or motion file, arguments) cannot be used."""

    exit_code = 2


class ModelFileError(MocapError):
    """A body-model or network file is missing, unreadable or of the wrong kind."""

    exit_code = 3


class OutputError(MocapError):
    """The result cannot be written (read-only folder, full disk, ...)."""

    exit_code = 4


class Cancelled(MocapError):
    """The job was cancelled (SIGINT/SIGTERM); partial results were kept where promised."""

    exit_code = 130
