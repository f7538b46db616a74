"""Recording for the reliability suite (stdlib only: loaded by the worker and the Blender venvs).

Each test describes its case with the ``record`` fixture: the area, the bad input or fault, and
what the user sees (message, exit code or job state, what is left on disk). After the test
runs, its outcome (pass, known failure with the xfail reason, or FAIL) is added, and at the
end of the session the rows are merged into ``tests/reliability/results/<side>.json`` (side =
``worker`` or ``blender``, the sub-folder) and ``docs/reliability.md`` is written again from
every side's JSON by ``tests/reliability/make_table.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
_ROWS: dict[str, dict[str, Any]] = {}
_RECORD_KEY = pytest.StashKey[dict[str, Any]]()
_TMP = re.compile(r"/tmp/pytest-of-[^/\s]+/pytest-\d+/[^/\s.]+/?")


def _short(text: object) -> str:
    """One line, pytest's temporary folders shortened to ``<tmp>/``."""
    return _TMP.sub("<tmp>/", " ".join(str(text).split()))


def _side(item: pytest.Item) -> str:
    try:
        return Path(str(item.path)).resolve().relative_to(HERE).parts[0]
    except (ValueError, IndexError):
        return "other"


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """``record(area, case, sees, code="", left="", how="")``: one row of docs/reliability.md.

    Args:
        area: group in the table (``footage``, ``worker faults``, ``cancel``, ...).
        case: the bad input or fault, in words.
        sees: what the user sees (the message as shown, or a summary of the result).
        code: exit code or job state.
        left: what is left on disk afterwards (``nothing`` when no output or temporary file).
        how: how the case was produced (when it is not obvious from ``case``).
    Calling it again updates the row (a test can record before its checks and refine after).
    """
    row: dict[str, Any] = {}

    def fill(area: str, case: str, sees: str, code: object = "", left: str = "", how: str = "") -> None:
        row.update(area=area, case=case, sees=_short(sees), code=str(code), left=_short(left), how=how)

    request.node.stash[_RECORD_KEY] = row
    yield fill


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    row = item.stash.get(_RECORD_KEY, None)
    if not row or report.when not in ("setup", "call"):
        return
    if report.when == "setup" and report.passed:
        return
    if hasattr(report, "wasxfail"):
        result = f"known failure: {report.wasxfail}" if report.skipped else "pass (xfail fixed?)"
    elif report.passed:
        result = "pass"
    elif report.skipped:
        result = "skipped"
    else:
        result = "FAIL"
    _ROWS[item.nodeid] = dict(row, result=result, side=_side(item), test=item.nodeid)


def _still_exists(session: pytest.Session, nodeid: str) -> bool:
    """Whether a recorded row's test still exists (its file, and a function of that name in it)."""
    file, _, rest = nodeid.partition("::")
    path = Path(str(session.config.rootpath)) / file
    name = rest.split("[")[0].split("::")[-1]
    return path.is_file() and f"def {name}(" in path.read_text(encoding="utf-8")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _ROWS:
        return
    by_side: dict[str, dict[str, Any]] = {}
    for nodeid, row in _ROWS.items():
        by_side.setdefault(row["side"], {})[nodeid] = row
    RESULTS.mkdir(exist_ok=True)
    for side, rows in by_side.items():
        path = RESULTS / f"{side}.json"
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        old = {k: v for k, v in old.items() if _still_exists(session, k)}
        ran = {k.split("[")[0] for k in rows}
        old = {k: v for k, v in old.items() if not ("[" not in k and k in ran and k not in rows
                                                    and any(r.startswith(k + "[") for r in rows))}
        old.update(rows)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(old, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    spec = importlib.util.spec_from_file_location("reliability_make_table", HERE / "make_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([])
