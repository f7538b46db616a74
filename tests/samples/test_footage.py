"""The footage decodes with OpenCV at the stated size, rate and length, and looks like a figure."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from samples.scenes import SCENES


@pytest.mark.parametrize("name", list(SCENES))
def test_footage_decodes_at_the_stated_size_fps_and_length(load_sample, name: str) -> None:
    s = load_sample(name)
    w, h = (int(v) for v in s.truth["image_size"])
    cap = cv2.VideoCapture(str(s.folder / "footage.mp4"))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == w and int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == h
    assert abs(cap.get(cv2.CAP_PROP_FPS) - float(s.truth["fps"])) < 1e-3
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == len(s.truth["frame_index"]) == s.id_mask.shape[0]
    # each figure is where the mask says: its pixels differ from the surroundings
    first = frames[0].astype(np.float64)
    for i in range(s.people):
        fig = s.id_mask[0] == i + 1
        ring = cv2.dilate(fig.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & (s.id_mask[0] == 0)
        assert np.abs(first[fig].mean(axis=0) - first[ring].mean(axis=0)).max() > 25


def test_figures_have_distinct_colours(load_sample) -> None:
    s = load_sample("three_people_50mm")
    cap = cv2.VideoCapture(str(s.folder / "footage.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    colours = [np.median(frame[s.id_mask[0] == i + 1], axis=0) for i in range(s.people)]
    for a in range(s.people):
        for b in range(a + 1, s.people):
            assert np.abs(colours[a] - colours[b]).max() > 40, (colours[a], colours[b])
