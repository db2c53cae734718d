"""The Kinect (v1) of NYU-Depth V2's raw recordings: its calibration, raw disparity to metres, and the
registration of a depth frame into the RGB camera, step for step as the NYU toolbox's
``project_depth_map`` does it.

Calibration values are the toolbox's ``camera_params.m`` (RGBDemo calibration). Two conventions of
the toolbox are kept on purpose, so a cache matches what the field trained on: undistortion
(Bouguet's ``rect``) measures pixels from 0 against the principal point, while back-projection and
projection measure them from 1 (MATLAB's ``meshgrid(1:W, 1:H)``); and the rigid transform is the
toolbox's ``R * P + T`` with its reflected R, whose projection equals a pinhole projection of
``R_eff @ P + t_eff`` (``RIGID_ROTATION``, ``RIGID_TRANSLATION``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

WIDTH, HEIGHT = 640, 480
DISPARITY_SCALE = 351.3
"""depth_m = DISPARITY_SCALE / (DISPARITY_OFFSET - raw): the toolbox's depthParam1 and depthParam2."""
DISPARITY_OFFSET = 1092.5
MAX_DEPTH = 10.0
NO_RETURN = 2047
"""The raw value of a pixel without a return (11-bit disparity)."""
MIN_RAW = 600
"""Raw values below this are noise to the toolbox (nearer than about 0.71 m) and become NO_RETURN."""
UNDISTORT_FILL = 255.0
"""What ``rect`` writes where the distorted source lies outside the image."""


@dataclass(frozen=True)
class Lens:
    """Pinhole intrinsics (principal point as the toolbox writes it) and Bouguet distortion k1, k2, p1, p2, k3."""

    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, float, float, float, float]

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


RGB_LENS = Lens(
    5.1885790117450188e02, 5.1946961112127485e02, 3.2558244941119034e02, 2.5373616633400465e02,
    (2.0796615318809061e-01, -5.8613825163911781e-01, 7.2231363135888329e-04, 1.0479627195765181e-03, 4.9856986684705107e-01),
)
DEPTH_LENS = Lens(
    5.8262448167737955e02, 5.8269103270988637e02, 3.1304475870804731e02, 2.3844389626620386e02,
    (-9.9897236553084481e-02, 3.9065324602765344e-01, 1.9290592870229277e-03, -1.9422022475975055e-03, -5.1031725053400578e-01),
)
_ROTATION_LISTED = np.array([
    9.9997798940829263e-01, 5.0518419386157446e-03, 4.3011152014118693e-03,
    -5.0359919480810989e-03, 9.9998051861143999e-01, -3.6879781309514218e-03,
    -4.3196624923060242e-03, 3.6662365748484798e-03, 9.9998394948385538e-01,
])
_T_X, _T_Y, _T_Z = 2.5031875059141302e-02, 6.6238747008330102e-04, -2.9342312935846411e-04


def toolbox_rigid_transform() -> tuple[np.ndarray, np.ndarray]:
    """(R, T) exactly as camera_params.m builds them: R = inv(reshape(-values, 3, 3)'), column-major,
    a reflection (det -1); T = [t_x; t_z; t_y], y and z swapped as the toolbox writes it."""
    rotation = np.linalg.inv((-_ROTATION_LISTED).reshape(3, 3, order="F").T)
    return rotation, np.array([_T_X, _T_Z, _T_Y])


_R_USED, _T_USED = toolbox_rigid_transform()
RIGID_ROTATION = -_R_USED
"""A proper rotation: the toolbox's projection of R P + T equals the pinhole projection of RIGID_ROTATION P + RIGID_TRANSLATION."""
RIGID_TRANSLATION = -_T_USED


def disparity_to_metres(raw: np.ndarray) -> np.ndarray:
    """depth_rel2depth_abs: 351.3 / (1092.5 - raw) metres, above 10 m clamped to 10, negative (raw > 1092.5) to 0."""
    raw = np.asarray(raw, dtype=np.float64)
    with np.errstate(divide="ignore"):
        depth = DISPARITY_SCALE / (DISPARITY_OFFSET - raw)
    return np.clip(depth, 0.0, MAX_DEPTH)


def metres_to_disparity(depth: np.ndarray) -> np.ndarray:
    """The inverse of ``disparity_to_metres`` rounded to the sensor's integers; 0 (missing) becomes NO_RETURN."""
    depth = np.asarray(depth, dtype=np.float64)
    raw = np.full(depth.shape, NO_RETURN, dtype=np.uint16)
    valid = depth > 0
    raw[valid] = np.clip(np.rint(DISPARITY_OFFSET - DISPARITY_SCALE / depth[valid]), 0, NO_RETURN - 1)
    return raw


def distort(x: np.ndarray, y: np.ndarray, lens: Lens) -> tuple[np.ndarray, np.ndarray]:
    """Bouguet's apply_distortion on normalised coordinates: radial 1 + k1 r^2 + k2 r^4 + k3 r^6 and the tangential terms."""
    k1, k2, p1, p2, k3 = lens.distortion
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


@dataclass(frozen=True)
class _Resampling:
    """For every output pixel: the four source pixels (flat indices) and bilinear weights, and where the source is outside."""

    corners: np.ndarray  # 4 x H*W flat indices
    weights: np.ndarray  # 4 x H*W
    outside: np.ndarray  # H*W bool


@cache
def _undistortion(lens: Lens, height: int, width: int) -> _Resampling:
    """Where ``rect`` reads each undistorted pixel from: 0-based pixel coordinates against the principal point,
    through the distortion, bilinear between the four neighbours; a source whose top-left neighbour is not
    at least one pixel inside the last row or column counts as outside."""
    cols, rows = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    xd, yd = distort((cols.ravel() - lens.cx) / lens.fx, (rows.ravel() - lens.cy) / lens.fy, lens)
    px, py = lens.fx * xd + lens.cx, lens.fy * yd + lens.cy
    left, top = np.floor(px), np.floor(py)
    inside = (left >= 0) & (left <= width - 2) & (top >= 0) & (top <= height - 2)
    left, top = np.where(inside, left, 0).astype(np.int64), np.where(inside, top, 0).astype(np.int64)
    ax, ay = np.where(inside, px - left, 0), np.where(inside, py - top, 0)
    corner = top * width + left
    corners = np.stack([corner, corner + 1, corner + width, corner + width + 1])
    weights = np.stack([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay])
    return _Resampling(corners, weights, ~inside)


def undistort(image: np.ndarray, lens: Lens) -> np.ndarray:
    """Bouguet's ``rect`` (no new camera matrix): the H x W float64 image the lens would have seen without
    distortion, bilinear, UNDISTORT_FILL where the source lies outside."""
    height, width = image.shape
    sampling = _undistortion(lens, height, width)
    flat = np.asarray(image, dtype=np.float64).ravel()
    out = (flat[sampling.corners] * sampling.weights).sum(axis=0)
    out[sampling.outside] = UNDISTORT_FILL
    return out.reshape(height, width)


def undistort_rgb(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 undistorted with the RGB lens channel by channel, rounded back to uint8 as MATLAB does."""
    planes = [undistort(rgb[..., channel], RGB_LENS) for channel in range(3)]
    return np.clip(np.floor(np.stack(planes, axis=-1) + 0.5), 0, 255).astype(np.uint8)


def _matlab_round(values: np.ndarray) -> np.ndarray:
    """round(): halves away from zero (numpy's rint rounds them to even)."""
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def register_depth(raw: np.ndarray) -> np.ndarray:
    """``project_depth_map`` on one raw H x W disparity frame: float32 metres seen from the RGB camera, 0 = missing.

    Undistort the disparity (and the mask of its largest value, the no-return code), call values below
    MIN_RAW and masked ones NO_RETURN, convert to metres, back-project with the depth intrinsics on the
    1-based grid, move into the RGB camera, project with the RGB intrinsics, round, keep pixels strictly
    inside (so the last column and row stay empty), and where several points land on one pixel keep the
    nearest. The value written is the depth camera's distance, as the toolbox writes it. Points without
    depth are left out: the toolbox projects them too, but they land outside the image.
    """
    raw = np.asarray(raw)
    height, width = raw.shape
    noise = undistort(np.where(raw == raw.max(), 255.0, 0.0), DEPTH_LENS) > 0
    disparity = undistort(raw.astype(np.float64), DEPTH_LENS)
    disparity[(disparity < MIN_RAW) | noise] = NO_RETURN
    depth = disparity_to_metres(disparity).ravel()
    valid = depth > 0
    rows, cols = np.divmod(np.flatnonzero(valid), width)
    z = depth[valid]
    points = np.stack([(cols + 1 - DEPTH_LENS.cx) * z / DEPTH_LENS.fx, (rows + 1 - DEPTH_LENS.cy) * z / DEPTH_LENS.fy, z])
    moved = _R_USED @ points + _T_USED[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = _matlab_round(moved[0] * RGB_LENS.fx / moved[2] + RGB_LENS.cx)
        y = _matlab_round(moved[1] * RGB_LENS.fy / moved[2] + RGB_LENS.cy)
    keep = (x > 0) & (x < width) & (y > 0) & (y < height)
    target = (y[keep].astype(np.int64) - 1) * width + (x[keep].astype(np.int64) - 1)
    values = z[keep]
    order = np.lexsort((values, target))  # per target pixel, nearest first
    target, values = target[order], values[order]
    first = np.ones(target.size, dtype=bool)
    first[1:] = target[1:] != target[:-1]
    out = np.zeros(height * width, dtype=np.float64)
    out[target[first]] = values[first]
    return np.clip(out, 0.0, MAX_DEPTH).astype(np.float32).reshape(height, width)
