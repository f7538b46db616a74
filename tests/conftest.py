"""Fixtures shared by every test folder."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"


def _fetch_opencv_doc_examples() -> Path:
    """Real footage nobody here made: Debian's ``opencv-doc`` examples/data.

    Fetched with ``apt-get download opencv-doc`` and unpacked with ``dpkg -x``
    (no install) into ``.cache/opencv-doc`` the first time; reused afterwards.
    Holds basketball1.png, basketball2.png (two players), vtest.avi (street
    scene), Megamind.avi and Megamind_bugy.avi (a damaged video), among others.
    """
    data = CACHE / "opencv-doc" / "usr/share/doc/opencv-doc/examples/data"
    if (data / "basketball1.png").exists():
        return data
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        def download() -> subprocess.CompletedProcess[str]:
            return subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp,
                                  capture_output=True, text=True)

        result = download()
        if result.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
            result = download()
        debs = list(Path(tmp).glob("opencv-doc_*.deb"))
        if result.returncode != 0 or not debs:
            raise RuntimeError(f"apt-get download opencv-doc failed: {result.stderr.strip()}")
        unpacked = Path(tmp) / "x"
        subprocess.run(["dpkg", "-x", str(debs[0]), str(unpacked)], check=True)
        target = CACHE / "opencv-doc"
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(unpacked), str(target))
    return data


@pytest.fixture(scope="session")
def opencv_doc_data() -> Path:
    """Folder ``examples/data`` of Debian's opencv-doc (real footage, fetched once)."""
    return _fetch_opencv_doc_examples()


# bpy 4.2 as a Python module can segfault while the interpreter shuts down after some
# combinations of tests (measured with bpy 4.2.23: e.g. tests/addon/edit/test_curves.py followed
# by tests/addon/export/test_formats.py; every test passes, then exit code 139). Real Blender
# quits through its own window-manager exit, not this path. So, under bpy < 4.3 only, end the
# process right after pytest has reported, with pytest's own exit status.
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    import os
    import sys

    bpy = sys.modules.get("bpy")
    if bpy is None or tuple(bpy.app.version) >= (4, 3, 0) or not _EXIT_STATUS:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS[-1])
