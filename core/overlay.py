"""Drawing results over footage: ids, boxes, body skeletons, hands and face points.

Two sources of drawings, one interface (:class:`OverlaySource`):

* :class:`KeypointsOverlay`: a keypoints file (``video-mocap-keypoints/1``): boxes, MediaPipe
  body skeletons (33 landmarks), both hands (21 each) and face-mesh points (drawn lightly).
* :class:`MotionOverlay`: a motion file (``video-mocap-motion/1``, read and validated by
  :func:`addon.motion_file.load_motion`): the SMPL-X (or MANO) joints from forward kinematics
  (``models.kinematics.forward_kinematics_np``) in the camera frame, projected with the file's
  pinhole camera (fx, fy, cx, cy) and drawn as a skeleton.

Everything is in pixels of the full frame (x right, y down). Drawing modifies the image in
place; the (H, W, 3) uint8 BGR layout is the one :mod:`core.footage` delivers.
"""

from __future__ import annotations

import colorsys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from addon.motion_file import MotionFile, MotionFileError, load_motion
from core.errors import InputError
from core.keypoints_file import Keypoints, load_keypoints

KEYPOINTS_FORMAT = "video-mocap-keypoints/1"
MOTION_FORMAT = "video-mocap-motion/1"
MIN_BODY_CONF = 0.3
"""Body landmarks below this confidence (visibility x presence) are not drawn."""


def _connections() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """MediaPipe's own body (33) and hand (21) landmark topology."""
    from mediapipe.python.solutions import hands_connections, pose_connections

    return sorted(pose_connections.POSE_CONNECTIONS), sorted(hands_connections.HAND_CONNECTIONS)


BODY_EDGES, HAND_EDGES = _connections()


def person_color(person_id: int) -> tuple[int, int, int]:
    """A bright BGR colour per track id, stable across runs and well spread for small ids."""
    hue = (int(person_id) * 0.618033988749895 + 0.05) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def _shade(color: tuple[int, int, int], towards: int, amount: float) -> tuple[int, int, int]:
    return tuple(int(round(c + (towards - c) * amount)) for c in color)  # type: ignore[return-value]


@dataclass(frozen=True)
class Style:
    """Line widths and sizes for one image size (thicker on bigger frames)."""

    line: int
    thin: int
    point: int
    font_scale: float

    def for_person(self, height_px: float) -> tuple[int, int]:
        """(line, point radius) for a person ``height_px`` tall: thinner on small people."""
        if not np.isfinite(height_px) or height_px <= 0:
            return self.line, self.point
        return (max(1, min(self.line, round(height_px / 50))), max(1, min(self.point, round(height_px / 40))))

    @classmethod
    def for_size(cls, width: int, height: int) -> Style:
        unit = max(min(width, height) / 480.0, 0.25)
        return cls(line=max(2, round(2 * unit)), thin=max(1, round(unit)), point=max(2, round(3 * unit)),
                   font_scale=max(0.35, 0.6 * unit))


def _fixed(points: np.ndarray) -> np.ndarray:
    """(N, 2) float px -> (N, 2) int32, clipped to a range cv2's drawing accepts."""
    return np.clip(np.nan_to_num(points), -1e5, 1e5).round().astype(np.int32)


def draw_edges(image: np.ndarray, points: np.ndarray, edges: Sequence[tuple[int, int]], visible: np.ndarray,
               color: tuple[int, int, int], thickness: int, point_radius: int = 0) -> None:
    """Draw the edges between visible points (and the points themselves when ``point_radius`` > 0).

    Args:
        image: (H, W, 3) uint8 BGR, modified in place.
        points: (N, 2) px.
        edges: pairs of indices into ``points``.
        visible: (N,) bool.
    """
    pts = _fixed(points)
    lines = [np.stack((pts[a], pts[b])) for a, b in edges if visible[a] and visible[b]]
    if lines:
        cv2.polylines(image, lines, False, color, thickness, cv2.LINE_AA)
    if point_radius > 0:
        for x, y in pts[visible]:
            cv2.circle(image, (int(x), int(y)), point_radius, color, -1, cv2.LINE_AA)


def draw_label(image: np.ndarray, text: str, corner: tuple[float, float], color: tuple[int, int, int],
               style: Style) -> None:
    """Text on a filled box of ``color`` (BGR) with its bottom-left at ``corner`` ((x, y) pixels,
    kept inside the frame) on ``image`` ((H, W, 3) uint8 BGR, in place)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), base = cv2.getTextSize(text, font, style.font_scale, style.thin)
    x = int(np.clip(corner[0], 0, max(0, image.shape[1] - w - 4)))
    y = int(np.clip(corner[1], h + base + 4, image.shape[0]))
    cv2.rectangle(image, (x, y - h - base - 4), (x + w + 4, y), color, -1)
    cv2.putText(image, text, (x + 2, y - base - 2), font, style.font_scale, (0, 0, 0), style.thin, cv2.LINE_AA)


def draw_points_lightly(image: np.ndarray, points: np.ndarray, color: tuple[int, int, int],
                        alpha: float = 0.45) -> None:
    """Single-pixel points blended at ``alpha`` (for the dense face mesh). points: (N, 2) px."""
    pts = _fixed(points)
    h, w = image.shape[:2]
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    xs, ys = pts[inside, 0], pts[inside, 1]
    blended = image[ys, xs].astype(np.float32) * (1 - alpha) + np.asarray(color, np.float32) * alpha
    image[ys, xs] = blended.astype(np.uint8)


class OverlaySource(Protocol):
    """What can be drawn over footage, row by row."""

    frame_index: np.ndarray
    """(T,) source frame number of each row."""
    image_size: tuple[int, int]
    """(W, H) px of the footage the file was made from."""
    fps: float
    mirrored: bool
    """The footage was flipped back before detection: draw on flipped frames."""

    def draw(self, image: np.ndarray, row: int) -> None:
        """Draw row ``row`` onto ``image`` ((H, W, 3) uint8 BGR, in place)."""
        ...


class KeypointsOverlay:
    """Draws a keypoints file: per person a box with ``id N``, the body skeleton, both hands
    (left a lighter, right a darker shade of the person's colour) and the face points."""

    def __init__(self, keypoints: Keypoints) -> None:
        self.keypoints = keypoints
        self.frame_index = np.asarray(keypoints.frame_index, dtype=np.int64)
        self.image_size = (int(keypoints.image_size[0]), int(keypoints.image_size[1]))
        self.fps = float(keypoints.fps)
        self.mirrored = bool(keypoints.mirrored)
        self.style = Style.for_size(*self.image_size)

    def draw(self, image: np.ndarray, row: int) -> None:
        """Draw row ``row`` onto ``image`` ((H, W, 3) uint8 BGR, in place)."""
        s = self.style
        for person in self.keypoints.people:
            if not person.valid[row]:
                continue
            color = person_color(person.id)
            if person.face_conf[row] > 0:
                draw_points_lightly(image, person.face_2d[row, :, :2], _shade(color, 255, 0.5))
            x0, y0, x1, y1 = person.box[row]
            line, point = s.for_person(y1 - y0)
            body_visible = person.body_conf[row] >= MIN_BODY_CONF
            draw_edges(image, person.body_2d[row], BODY_EDGES, body_visible, color, line, point)
            for points, conf, shade in ((person.left_hand_2d, person.left_hand_conf, 255),
                                        (person.right_hand_2d, person.right_hand_conf, 0)):
                visible = conf[row] > 0
                if visible.any():
                    draw_edges(image, points[row], HAND_EDGES, visible, _shade(color, shade, 0.35),
                               min(s.thin, line), max(1, point - 1))
            if x1 > x0 and y1 > y0:
                cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)), color, s.thin, cv2.LINE_AA)
            draw_label(image, f"id {person.id}", (x0, y0), color, s)


def project(points_cam: np.ndarray, focal: np.ndarray, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of camera-frame points (OpenCV: x right, y down, z forward).

    Args:
        points_cam: (..., 3) metres.
        focal: (2,) fx, fy px. center: (2,) cx, cy px.

    Returns:
        (..., 2) px and (...,) bool in front of the camera (z > 1 cm).
    """
    z = points_cam[..., 2]
    front = z > 0.01
    safe = np.where(front, z, 1.0)
    uv = points_cam[..., :2] / safe[..., None] * np.asarray(focal) + np.asarray(center)
    return uv, front


class MotionOverlay:
    """Draws a motion file: each person's skeleton from forward kinematics, projected with the
    file's camera, plus an ``id N`` label at the head (body) or wrist (hands-only files).

    Args:
        motion: a validated motion file (:func:`addon.motion_file.load_motion`, the one reader).
    """

    def __init__(self, motion: MotionFile) -> None:
        from models.kinematics import axis_angle_to_matrix_np, forward_kinematics_np

        self.frame_index = np.asarray(motion.frame_index, dtype=np.int64)
        self.image_size = (int(motion.image_size[0]), int(motion.image_size[1]))
        self.fps = float(motion.fps)
        self.mirrored = bool(motion.camera.mirrored)
        self.focal = np.asarray(motion.camera.focal_px, np.float64)
        self.center = np.asarray(motion.camera.center_px, np.float64)
        self.parents = [int(p) for p in motion.avatar.parents]
        self.people: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        for person in motion.people:
            local = person.local_axis_angles(motion.avatar.hand_mean, motion.flat_hand_mean)
            joints, _ = forward_kinematics_np(axis_angle_to_matrix_np(local), person.rest_joints, self.parents,
                                              person.transl)
            uv, front = project(joints, self.focal, self.center)
            self.people.append((person.track_id, person.valid, uv, front))
        self.style = Style.for_size(*self.image_size)
        self.edges = [(j, p) for j, p in enumerate(self.parents) if p >= 0]

    def draw(self, image: np.ndarray, row: int) -> None:
        """Draw row ``row`` onto ``image`` ((H, W, 3) uint8 BGR, in place)."""
        s = self.style
        for person_id, valid, uv, front in self.people:
            if not valid[row]:
                continue
            color = person_color(person_id)
            seen = uv[row][front[row]]
            line, point = s.for_person(float(np.ptp(seen[:, 1])) if len(seen) else 0.0)
            draw_edges(image, uv[row], self.edges, front[row], color, line, point)
            label_joint = 15 if len(self.parents) == 55 else 0  # head, or the wrist of a hand
            if front[row, label_joint]:
                x, y = uv[row, label_joint]
                draw_label(image, f"id {person_id}", (x, y - 3 * s.point), color, s)


def load_overlay_source(path: str | Path) -> OverlaySource:
    """Read a keypoints or motion file and return what draws it.

    Raises:
        InputError: missing, unreadable, of another format or malformed.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"file not found: {source}")
    try:
        with np.load(source, allow_pickle=False) as data:
            fmt = str(data["format"]) if "format" in data.files else ""
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{source} is not a readable .npz file: {exc}") from exc
    if fmt.startswith("video-mocap-keypoints/"):
        return KeypointsOverlay(load_keypoints(source))
    if fmt.startswith("video-mocap-motion/"):
        try:
            return MotionOverlay(load_motion(source))
        except MotionFileError as exc:
            raise InputError(str(exc)) from exc
    raise InputError(f"{source} is neither a keypoints file ({KEYPOINTS_FORMAT}) nor a motion file "
                     f"({MOTION_FORMAT}); its format is {fmt or 'missing'!r}")
