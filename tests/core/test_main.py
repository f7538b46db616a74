"""core.__main__: the last line of defence reports, never a bare traceback."""

from __future__ import annotations

import json
import traceback

import pytest

from core import __main__ as cli
from core.progress import Progress


def test_out_of_memory_is_reported_even_when_formatting_the_traceback_runs_out(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_memory(*args: object, **kwargs: object) -> str:
        raise MemoryError

    monkeypatch.setattr(traceback, "format_exc", no_memory)
    try:
        raise MemoryError
    except MemoryError:
        cli._report_out_of_memory(Progress("json"))
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["event"] == "error" and event["kind"] == "MemoryError"
    assert "out of memory" in event["message"]


def test_out_of_memory_falls_back_to_a_plain_line(monkeypatch: pytest.MonkeyPatch,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    progress = Progress("json")

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(progress, "error", no_memory)
    cli._report_out_of_memory(progress)
    captured = capfd.readouterr()
    assert "error: out of memory" in captured.err and "Traceback" not in captured.err
