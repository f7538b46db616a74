"""Fixtures for body-model tests: synthetic model files in the official SMPL-X/MANO formats.

The writers live in :mod:`models.smplx_files` (``write_smplx_npz``, ``write_mano_pkl``)
so tests anywhere can make such files; these fixtures wrap them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.smplx_files import write_mano_pkl, write_smplx_npz


@pytest.fixture(scope="session")
def official_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with SMPLX_NEUTRAL.npz, MANO_RIGHT.pkl and MANO_LEFT.pkl of the real layout."""
    folder = tmp_path_factory.mktemp("official_models")
    write_smplx_npz(folder / "SMPLX_NEUTRAL.npz")
    write_mano_pkl(folder / "MANO_RIGHT.pkl", side="right")
    write_mano_pkl(folder / "MANO_LEFT.pkl", side="left", seed=1)
    return folder
