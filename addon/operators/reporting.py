"""The one way an operator turns its work into a report: a message on success, the
error's own words on failure (never a traceback in the user's face)."""

from __future__ import annotations

from collections.abc import Callable

import bpy


def run_and_report(operator: bpy.types.Operator, work: Callable[[], str],
                   errors: tuple[type[Exception], ...], error_prefix: str = "") -> set[str]:
    """Run ``work``; report the message it returns (INFO) and finish, or, when it raises one of
    ``errors``, report ``error_prefix`` + the error (ERROR) and cancel."""
    try:
        message = work()
    except errors as exc:
        operator.report({"ERROR"}, f"{error_prefix}{exc}")
        return {"CANCELLED"}
    operator.report({"INFO"}, message)
    return {"FINISHED"}
