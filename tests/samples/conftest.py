"""Fixtures for the ground-truth sample tests: the rendered samples themselves.

The session fixture generates every sample that is missing or stale with
``samples.generate`` (a few minutes on a fresh clone; cached in data/samples
afterwards, so later runs only read them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from samples.generate import DEFAULT_ROOT, generate
from samples.scenes import SCENES


@dataclass
class Sample:
    """One rendered sample: its folder, ground truth (all arrays) and id masks (T,H,W)."""

    name: str
    folder: Path
    truth: dict[str, np.ndarray]
    id_mask: np.ndarray

    @property
    def people(self) -> int:
        return len(self.truth["person_ids"])

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(...,3) camera-frame points -> (...,2) pixels through the true camera."""
        f, c = self.truth["camera_focal_px"], self.truth["camera_center_px"]
        return f * points_cam[..., :2] / points_cam[..., 2:3] + c


@pytest.fixture(scope="session")
def samples_root() -> Path:
    """data/samples with every sample complete (generated here when missing)."""
    for name in SCENES:
        generate(name, DEFAULT_ROOT)
    return DEFAULT_ROOT


@pytest.fixture(scope="session")
def load_sample(samples_root: Path):
    """name -> :class:`Sample` (read once per session)."""
    cache: dict[str, Sample] = {}

    def load(name: str) -> Sample:
        if name not in cache:
            folder = samples_root / name
            with np.load(folder / "ground_truth.npz", allow_pickle=False) as data:
                truth = {k: data[k] for k in data.files}
            with np.load(folder / "id_mask.npz", allow_pickle=False) as data:
                mask = data["id_mask"]
            cache[name] = Sample(name, folder, truth, mask)
        return cache[name]

    return load
