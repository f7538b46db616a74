"""Worker side of the samples: pose mannequin-x figures, add faces, place the camera.

Runs in the worker environment (numpy>=2, mannequin-x). For each figure and frame
it computes the posed, skinned "wooden" mesh (24k vertices) plus small face
meshes (eyes, pupils, brows, nose, mouth) that follow the head joint, keeps the
stance foot planted (so walking advances and crouching keeps the feet still),
puts the soles on the floor, and converts everything to the OpenCV camera frame.

Conventions:
* world: metres, y up, floor y = 0 (see :mod:`samples.scenes`).
* camera frame: OpenCV (x right, y down, z forward), metres.
* mannequin-x places the pelvis at ``R_root @ J0 + global_translation`` (rotation
  about the model origin); the motion-file contract rotates about the pelvis:
  ``pelvis = J0 + transl``. :func:`pose_figure` returns contract parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mannequin import Mannequin
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from models.body import mannequin_rest_joints
from models.skeleton import JAW, LEFT_EYE, MANNEQUIN_TO_SMPLX, NUM_JOINTS, RIGHT_EYE, SMPLX_JOINT_NAMES
from samples.scenes import CameraSpec, Figure

HEAD = SMPLX_JOINT_NAMES.index("head")
FACE_JOINTS = (JAW, LEFT_EYE, RIGHT_EYE)
"""SMPL-X joints mannequin-x lacks: rigid children of the head (models.body.FACE_JOINT_OFFSETS)."""

# material slots of a figure mesh (index into its palette)
BODY, SKIN, EYE_WHITE, PUPIL, BROW, MOUTH, NOSE = range(7)


# -- camera ----------------------------------------------------------------------
@dataclass(frozen=True)
class Camera:
    """A static pinhole camera with known intrinsics and pose.

    Attributes:
        size: (W, H) pixels.
        focal_mm, sensor_mm: focal length and sensor width, millimetres.
        world_from_cam: (4,4) maps OpenCV camera-frame points to world points.
    """

    size: tuple[int, int]
    focal_mm: float
    sensor_mm: float
    world_from_cam: np.ndarray

    @property
    def focal_px(self) -> float:
        """fx = fy in pixels: focal_mm / sensor_mm * W."""
        return self.focal_mm / self.sensor_mm * self.size[0]

    @property
    def center_px(self) -> np.ndarray:
        """(2,) principal point: the image centre."""
        return np.array([self.size[0] / 2.0, self.size[1] / 2.0])

    @property
    def cam_from_world(self) -> np.ndarray:
        """(4,4) inverse of ``world_from_cam``."""
        return np.linalg.inv(self.world_from_cam)

    def to_cam(self, points_world: np.ndarray) -> np.ndarray:
        """(...,3) world points -> (...,3) camera-frame points."""
        m = self.cam_from_world
        return points_world @ m[:3, :3].T + m[:3, 3]

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(...,3) camera-frame points -> (...,2) pixels."""
        f = self.focal_px
        return f * points_cam[..., :2] / points_cam[..., 2:3] + self.center_px

    def floor_plane_cam(self) -> np.ndarray:
        """(4,) plane (n, d) of the floor in the camera frame: n.x + d = 0, n the unit up normal."""
        m = self.cam_from_world
        n = m[:3, :3] @ np.array([0.0, 1.0, 0.0])
        point = m[:3, 3]                  # the world origin lies on the floor
        return np.append(n, -n @ point)


def make_camera(spec: CameraSpec, size: tuple[int, int]) -> Camera:
    """Camera looking from ``spec.position`` at ``spec.target`` with world +y up."""
    pos, target = np.asarray(spec.position, float), np.asarray(spec.target, float)
    forward = target - pos
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    world_from_cam = np.eye(4)
    world_from_cam[:3, :3] = np.stack([right, down, forward], axis=1)
    world_from_cam[:3, 3] = pos
    return Camera(size, spec.focal_mm, spec.sensor_mm, world_from_cam)


# -- mannequin helpers -------------------------------------------------------------
def hand_mean() -> np.ndarray:
    """(30,3) the SMPL-X mean hand pose (left 15 then right 15) mannequin-x applies."""
    from mannequin import _io  # the calibration table is not re-exported

    return np.asarray(_io.load_calibration().hand_mean, dtype=np.float64)


def _smplx_rows(model: Mannequin) -> np.ndarray:
    """(55,) index into mannequin joints for each SMPL-X joint (jaw/eyes -> head, see FACE_JOINTS)."""
    index = {MANNEQUIN_TO_SMPLX[n]: i for i, n in enumerate(model.joint_names) if n in MANNEQUIN_TO_SMPLX}
    head = index["head"]
    return np.array([index.get(name, head) for name in SMPLX_JOINT_NAMES])


def rest_model(betas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rest pose (flat hands, zero rotations) of a shaped figure.

    Returns:
        rest_joints (55,3), rest_vertices (V,3) metres in the model frame, faces (F,3) int32.
        Rest joints are those of :class:`models.body.MannequinBody` (jaw and eyes are rigid
        children of the head at ``models.body.FACE_JOINT_OFFSETS``; mannequin-x has none).
    """
    flat = Mannequin("wooden", shape=np.asarray(betas, np.float32), flat_hand_mean=True)
    verts = flat.vertices(flat.rest_pose())
    return (mannequin_rest_joints(betas).astype(np.float64), verts.astype(np.float64),
            np.asarray(flat.faces, np.int32))


# -- faces ---------------------------------------------------------------------------
def _disc(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 14) -> tuple:
    """Ellipse fan in the xy plane: (n+1,2) points, (n,3) triangles facing +z."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(angle), np.sin(angle)
    pts = np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)
    pts = np.vstack([[cx, cy], pts])
    tris = np.stack([np.zeros(n, int), 1 + np.arange(n), 1 + (np.arange(n) + 1) % n], axis=1)
    return pts, tris


def face_features(rest_vertices: np.ndarray,
                  rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eyes, pupils, brows, nose and mouth on the front (+z) of the rest head.

    Decals follow the head surface (each vertex sits a little in front of the
    frontmost head vertex at its x, y); the nose is a small pyramid.

    Returns:
        vertices (N,3) in the rest model frame, triangles (M,3) int, material (M,) int.
    """
    neck_y = rest_joints[SMPLX_JOINT_NAMES.index("neck"), 1]
    head = rest_vertices[(rest_vertices[:, 1] > neck_y + 0.05) & (np.abs(rest_vertices[:, 0]) < 0.14)
                         & (rest_vertices[:, 2] > 0.0)]
    top = head[:, 1].max()
    s = (top - neck_y) / 0.312                     # size relative to the neutral head
    cx = 0.5 * (head[:, 0].max() + head[:, 0].min())
    tree = cKDTree(head[:, :2])

    def surface(xy: np.ndarray, lift: float) -> np.ndarray:
        out = np.empty(len(xy))
        for i, near in enumerate(tree.query_ball_point(xy, r=0.012 * s)):
            out[i] = head[near, 2].max() if near else head[tree.query(xy[i])[1], 2]
        return out + lift * s

    verts, tris, mats = [], [], []

    def add(pts: np.ndarray, tri: np.ndarray, z: np.ndarray, material: int) -> None:
        base = sum(len(v) for v in verts)
        verts.append(np.column_stack([pts, z]))
        tris.append(tri + base)
        mats.append(np.full(len(tri), material))

    eye_y, brow_y, nose_y, mouth_y = (top - s * d for d in (0.115, 0.088, 0.158, 0.192))
    for side in (-1.0, 1.0):
        x = cx + side * 0.033 * s
        p, t = _disc(x, eye_y, 0.0155 * s, 0.0095 * s)
        add(p, t, surface(p, 0.0025), EYE_WHITE)
        p, t = _disc(x, eye_y - 0.001 * s, 0.0068 * s, 0.0068 * s, n=10)
        add(p, t, surface(p, 0.0045), PUPIL)
        p, t = _disc(x, brow_y, 0.018 * s, 0.0042 * s, angle=side * 0.12, n=10)
        add(p, t, surface(p, 0.003), BROW)
    p, t = _disc(cx, mouth_y, 0.024 * s, 0.0065 * s)
    add(p, t, surface(p, 0.0025), MOUTH)
    # nose: a pyramid on a triangle base (bridge at the top, nostrils at the bottom)
    base = np.array([[cx, nose_y + 0.028 * s], [cx - 0.012 * s, nose_y - 0.006 * s],
                     [cx + 0.012 * s, nose_y - 0.006 * s]])
    bz = surface(base, 0.0)
    tip = np.array([cx, nose_y - 0.002 * s, surface(np.array([[cx, nose_y]]), 0.0)[0] + 0.02 * s])
    nose = np.vstack([np.column_stack([base, bz - 0.004 * s]), tip])
    base_index = sum(len(v) for v in verts)
    verts.append(nose)
    nose_tris = np.array([[0, 3, 1], [0, 2, 3], [1, 3, 2]])
    corner = nose[nose_tris]
    normal = np.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0])
    outward = nose[nose_tris].mean(axis=1) - nose.mean(axis=0)
    nose_tris = np.where((np.sum(normal * outward, axis=1) < 0)[:, None], nose_tris[:, ::-1], nose_tris)
    tris.append(nose_tris + base_index)
    mats.append(np.full(3, NOSE))
    return np.vstack(verts), np.vstack(tris), np.concatenate(mats)


def _body_materials(rest_vertices: np.ndarray, rest_joints: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) material per body triangle: SKIN on head and hands, BODY elsewhere."""
    j = {n: rest_joints[SMPLX_JOINT_NAMES.index(n)] for n in ("neck", "left_wrist", "right_wrist")}
    v = rest_vertices
    skin = (((v[:, 1] > j["neck"][1] + 0.07) & (np.abs(v[:, 0]) < 0.14))
            | (v[:, 0] > j["left_wrist"][0] - 0.01) | (v[:, 0] < j["right_wrist"][0] + 0.01))
    return np.where(skin[faces].mean(axis=1) > 0.5, SKIN, BODY).astype(np.int32)


# -- posing --------------------------------------------------------------------------
@dataclass
class FigureTrack:
    """One posed figure seen by the camera (T frames).

    Attributes:
        vertices_cam: (T,V',3) float32 body mesh followed by the face features, camera frame.
        faces: (F',3) int32 triangles of that mesh; material: (F',) int32 slots (BODY..NOSE).
        num_body_vertices: V, the body mesh's vertex count (rest_vertices rows).
        joints_cam: (T,55,3) true SMPL-X joints, camera frame, metres (jaw/eyes: rigid head children).
        global_orient, transl: (T,3) contract placement (camera frame, about the pelvis).
        body_pose: (T,21,3); left_hand_pose, right_hand_pose: (T,15,3) relative to the mean hand.
        rest_joints: (55,3), rest_vertices: (V,3) model frame; body_faces: (F,3) int32.
    """

    betas: np.ndarray
    vertices_cam: np.ndarray
    faces: np.ndarray
    material: np.ndarray
    num_body_vertices: int
    joints_cam: np.ndarray
    global_orient: np.ndarray
    transl: np.ndarray
    body_pose: np.ndarray
    left_hand_pose: np.ndarray
    right_hand_pose: np.ndarray
    rest_joints: np.ndarray
    rest_vertices: np.ndarray
    body_faces: np.ndarray


def _plant(ankles: np.ndarray, contact: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Horizontal translation that keeps the supporting foot where it is.

    Args:
        ankles: (T,2,3) left/right ankle positions without translation.
        contact: (T,2) weights of the feet carrying the body (from the motion).
        start: (2,) x, z of the ankle midpoint at frame 0.

    Returns:
        (T,2) x, z translation: between consecutive frames the contact-weighted ankle
        point (same weights at both frames) does not move.
    """
    n = len(ankles)
    out = np.zeros((n, 2))
    out[0] = start - ankles[0][:, [0, 2]].mean(axis=0)
    for t in range(1, n):
        w = contact[t] + 1e-6
        w = w / w.sum()
        move = w @ ankles[t] - w @ ankles[t - 1]
        out[t] = out[t - 1] - move[[0, 2]]
    return out


def pose_figure(figure: Figure, camera: Camera, mean_hand: np.ndarray, chunk: int = 16) -> FigureTrack:
    """Pose one figure for every frame of its motion and express it in the camera frame."""
    m = figure.motion
    n = len(m)
    betas = np.asarray(figure.betas, np.float32)
    model = Mannequin("wooden", shape=betas)               # mean hand at zero hand pose
    rest_joints, rest_vertices, body_faces = rest_model(betas)
    rows = _smplx_rows(model)
    orient = m.world_orient()
    hands = np.concatenate([m.left_hand, m.right_hand], axis=1)

    def params(sl: slice, translation: np.ndarray | None = None) -> dict[str, np.ndarray]:
        k = len(range(*sl.indices(n)))
        pose = model.rest_pose(batch_dims=(k,))
        pose.update(body_pose=m.body_pose[sl].astype(np.float32), hand_pose=hands[sl].astype(np.float32),
                    global_rotation=orient[sl].astype(np.float32))
        if translation is not None:
            pose["global_translation"] = translation.astype(np.float32)
        return pose

    transforms = model.forward_skeleton(**params(slice(0, n))).astype(np.float64)  # (T,54,4,4)
    ankle_rows = [rows[SMPLX_JOINT_NAMES.index(a)] for a in ("left_ankle", "right_ankle")]
    horizontal = _plant(transforms[:, ankle_rows][..., :3, 3], m.contact, np.asarray(figure.start, float))

    verts0 = np.concatenate([model.vertices(params(slice(i, min(i + chunk, n))))
                             for i in range(0, n, chunk)], axis=0).astype(np.float64)
    lift = -verts0[:, :, 1].min(axis=1)                     # soles on the floor
    translation = np.column_stack([horizontal[:, 0], lift, horizontal[:, 1]])

    feat_v, feat_f, feat_m = face_features(rest_vertices, rest_joints)
    head_tf = transforms[:, rows[HEAD]]                     # (T,4,4) world, no translation
    feat = (np.einsum("tij,vj->tvi", head_tf[:, :3, :3], feat_v - rest_joints[HEAD])
            + head_tf[:, None, :3, 3])
    verts_world = np.concatenate([verts0, feat], axis=1) + translation[:, None]
    joints_world = transforms[:, rows][..., :3, 3] + translation[:, None]
    face_offsets = rest_joints[list(FACE_JOINTS)] - rest_joints[HEAD]
    joints_world[:, list(FACE_JOINTS)] = (np.einsum("tij,kj->tki", head_tf[:, :3, :3], face_offsets)
                                          + joints_world[:, HEAD, None])

    r_cw = camera.cam_from_world[:3, :3]
    joints_cam = camera.to_cam(joints_world)
    global_orient = (Rotation.from_matrix(r_cw) * Rotation.from_rotvec(orient)).as_rotvec()
    transl = joints_cam[:, 0] - rest_joints[0]
    faces = np.vstack([body_faces, feat_f + len(rest_vertices)]).astype(np.int32)
    body_material = _body_materials(rest_vertices, rest_joints, body_faces)
    material = np.concatenate([body_material, feat_m]).astype(np.int32)
    assert joints_cam.shape == (n, NUM_JOINTS, 3)
    return FigureTrack(
        betas=betas, vertices_cam=camera.to_cam(verts_world).astype(np.float32), faces=faces,
        material=material, num_body_vertices=len(rest_vertices), joints_cam=joints_cam,
        global_orient=global_orient, transl=transl, body_pose=m.body_pose.copy(),
        left_hand_pose=m.left_hand.copy(), right_hand_pose=m.right_hand.copy(),
        rest_joints=rest_joints, rest_vertices=rest_vertices, body_faces=body_faces)


def palette(figure: Figure) -> np.ndarray:
    """(7,3) linear RGB of the material slots BODY..NOSE."""
    skin = np.asarray(figure.skin)
    return np.array([figure.colour, skin, (0.92, 0.92, 0.92), (0.02, 0.02, 0.03), (0.04, 0.025, 0.02),
                     (0.35, 0.03, 0.04), skin * 0.75], dtype=np.float32)


def post_mesh(camera: Camera, posts: tuple[tuple[float, float], ...], size: tuple[float, float],
              material: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Square posts (``size``: width, height, metres) standing on the floor at (x, z) world points,
    in the camera frame: vertices (8P, 3) float32, triangles (10P, 3) int32 (sides and top),
    material (10P,) int32, all ``material``."""
    half, height = size[0] / 2.0, size[1]
    corners = np.array([[-half, 0, -half], [half, 0, -half], [half, 0, half], [-half, 0, half]])
    box = np.concatenate([corners, corners + [0.0, height, 0.0]])              # bottom 0-3, top 4-7
    quads = [(0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7), (4, 5, 6, 7)]
    tris = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    verts = np.concatenate([box + [x, 0.0, z] for x, z in posts]) if posts else np.zeros((0, 3))
    faces = np.concatenate([tris + 8 * i for i in range(len(posts))]) if posts else np.zeros((0, 3), int)
    return (camera.to_cam(verts).astype(np.float32), faces.astype(np.int32),
            np.full(len(faces), material, np.int32))


def floor_mesh(camera: Camera, tile: float = 0.5,
               half: float = 16.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checkerboard floor (y = 0) around the camera's view, in the camera frame.

    Returns vertices (N,3) float32, triangles (M,3) int32, material (M,) int32 (0/1 squares).
    """
    pos = camera.world_from_cam[:3, 3]
    fwd = camera.world_from_cam[:3, 2]
    centre = pos + fwd * half * 0.8
    cx, cz = (np.round(centre[[0, 2]] / tile) * tile)
    k = int(round(2 * half / tile))
    xs = cx - half + tile * np.arange(k + 1)
    zs = cz - half + tile * np.arange(k + 1)
    gx, gz = np.meshgrid(xs, zs, indexing="ij")
    verts = np.column_stack([gx.ravel(), np.zeros(gx.size), gz.ravel()])
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    a = (i * (k + 1) + j).ravel()
    b, c, d = a + (k + 1), a + (k + 1) + 1, a + 1
    tris = np.vstack([np.column_stack([a, d, c]), np.column_stack([a, c, b])])
    first = np.round((cx - half) / tile) + np.round((cz - half) / tile)
    parity = ((i + j + first) % 2).ravel().astype(np.int32)
    return camera.to_cam(verts).astype(np.float32), tris.astype(np.int32), np.concatenate([parity, parity])
