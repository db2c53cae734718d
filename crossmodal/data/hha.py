"""HHA depth encoding (Gupta, Girshick, Arbelaez, Malik, ECCV 2014) as Gupta's MATLAB code computes it.

Each pixel becomes three uint8 values: horizontal disparity, height above the estimated floor and the
angle of the surface normal with gravity. Steps and constants follow saveHHA.m and processDepthImage.m
with the rgbdutils functions they call (shared/rgbd/rgbd_formats.md, section 3): work in centimetres,
normals from least-squares planes in square windows, gravity from getYDir, the floor from the lowest point.

The original is given a hole-filled depth map, so it never meets a missing pixel; here missing pixels
(depth 0 or NaN) are encoded as (0, 0, 0), "no data". No valid pixel can give that triple: the angle
channel is at least 38 wherever there is depth, so a 0 there marks a hole unambiguously.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from crossmodal.errors import InputError

ANGLE_RADIUS = 3
"""Window radius of the normals in the angle channel: (2R+1)^2 = 7 x 7 pixels."""
GRAVITY_RADIUS = 10
"""Window radius of the smoother normals that vote for gravity: 21 x 21 pixels."""
Y0 = (0.0, 1.0, 0.0)
"""Initial gravity guess: image-down, the camera's +y, as for an upright camera."""
ANGLE_THRESHOLDS_DEG = (45.0, 15.0)
ITERATIONS = (5, 5)
DISPARITY_SCALE = 31000.0
MIN_DEPTH_CM = 100.0
"""Depth is clamped here before 31000 / Z, so the disparity channel saturates (255) below 121.6 cm anyway."""
FLOOR_MIN_DROP_CM = -90.0
FALLBACK_FLOOR_CM = -130.0
"""If no point lies 90 cm below the camera, the floor is not in view: assume it 130 cm below."""
ANGLE_OFFSET_DEG = 128.0 - 90.0
IDENTITY_BELOW_DEG = 0.1


def point_cloud(depth_cm: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """H x W depth (cm) -> H x W x 3 camera-frame points (x right, y down, z forward), as getPointCloudFromZ.

    The pixel grid is 1-based, MATLAB's meshgrid(1:W, 1:H): column j (0-based) has u = j + 1, so cx and cy
    are read in MATLAB's convention, as the camera matrices of the NYU toolbox give them. Skew is ignored.
    """
    fx, fy, cx, cy = _focal_centre(intrinsics)
    z = np.asarray(depth_cm, dtype=np.float64)
    height, width = z.shape
    u = np.arange(1, width + 1, dtype=np.float64)[None, :]
    v = np.arange(1, height + 1, dtype=np.float64)[:, None]
    return np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1)


def surface_normals(depth_cm: np.ndarray, missing: np.ndarray, intrinsics: np.ndarray, radius: int) -> np.ndarray:
    """H x W x 3 unit normals from a least-squares plane over each (2 radius + 1)^2 window, as computeNormalsSquareSupport.

    A plane n . P = 1 seen through the camera has an inverse depth 1/Z that is affine in the pixel (u, v), so the
    fit is the original's linear regression of 1/Z on (u, v) over the window's valid pixels. Its moments come from
    box filters over products (integer ones exact in float64), so the cost does not grow with the radius. Missing
    pixels are left out of every window; windows are cut at the image border (only pixels inside count, as
    MATLAB's zero-padded filter2). A pixel gets a normal whenever its window holds three valid pixels that are
    not on one line, even if its own depth is missing, as in the original; otherwise NaN.

    Orientation as the original: n *= sign(n_z), then n *= sign(n . P), so normals point away from the camera
    (a floor's normal is about +y). sign(n . P) is taken along the pixel's ray, which has the sign of n . P for
    any depth > 0 and so also orients the normals at missing pixels.
    """
    fx, fy, cx, cy = _focal_centre(intrinsics)
    z = np.asarray(depth_cm, dtype=np.float64)
    height, width = z.shape
    valid = ~np.asarray(missing, dtype=bool) & np.isfinite(z) & (z > 0)
    m = valid.astype(np.float64)
    inverse = np.divide(1.0, z, out=np.zeros_like(z), where=valid)
    # Pixel coordinates shifted by whole numbers near the centre: smaller moments, still exact integers.
    u0, v0 = width // 2, height // 2
    u = np.broadcast_to(np.arange(1, width + 1, dtype=np.float64)[None, :] - u0, z.shape)
    v = np.broadcast_to(np.arange(1, height + 1, dtype=np.float64)[:, None] - v0, z.shape)
    products = np.stack([m, m * u, m * v, m * u * u, m * u * v, m * v * v, inverse, inverse * u, inverse * v], axis=-1)
    size = 2 * radius + 1
    sums = cv2.boxFilter(products, -1, (size, size), normalize=False, borderType=cv2.BORDER_CONSTANT)
    n, su, sv, suu, suv, svv, sw, suw, svw = (sums[..., k] for k in range(9))
    # Centred moments times n (n^2 times the covariances): the pixel ones are exact integers.
    cuu, cuv, cvv = n * suu - su * su, n * suv - su * sv, n * svv - sv * sv
    cuw, cvw = n * suw - su * sw, n * svw - sv * sw
    det = cuu * cvv - cuv * cuv
    solvable = (n >= 3) & (det > 1e-9 * cuu * cvv) & (cuu > 0) & (cvv > 0)
    det = np.where(solvable, det, 1.0)
    slope_u = (cvv * cuw - cuv * cvw) / det  # d(1/Z)/du = n_x / fx
    slope_v = (cuu * cvw - cuv * cuw) / det  # d(1/Z)/dv = n_y / fy
    count = np.where(solvable, n, 1.0)
    mean_u, mean_v, mean_w = su / count + u0, sv / count + v0, sw / count
    normal = np.stack([slope_u * fx, slope_v * fy, mean_w - slope_u * (mean_u - cx) - slope_v * (mean_v - cy)], axis=-1)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    solvable &= np.isfinite(length[..., 0]) & (length[..., 0] > 0)
    normal = np.where(solvable[..., None], normal / np.where(length > 0, length, 1.0), np.nan)
    normal *= _sign_or_one(normal[..., 2])[..., None]
    ray = np.stack([(u + u0 - cx) / fx, (v + v0 - cy) / fy, np.ones_like(z)], axis=-1)
    normal *= _sign_or_one(np.sum(normal * ray, axis=-1))[..., None]
    return normal


def gravity_direction(
    normals: np.ndarray,
    y0: tuple[float, float, float] = Y0,
    thresholds_deg: tuple[float, ...] = ANGLE_THRESHOLDS_DEG,
    iterations: tuple[int, ...] = ITERATIONS,
) -> np.ndarray:
    """Unit gravity direction (pointing down, in camera coordinates) from a normal field, as getYDir.

    Floors and ceilings have normals parallel to gravity, walls perpendicular to it; each step keeps the normals
    within the threshold of either set for the current guess and takes the direction most parallel to the first
    set and most perpendicular to the second: the eigenvector of the smallest eigenvalue of
    A = N_W N_W^T - N_F N_F^T, its sign matched to the previous guess. NaN normals do not vote; a step with no
    vote keeps the previous guess (the original would return a zero vector there).
    """
    votes = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
    votes = votes[np.isfinite(votes).all(axis=1)]
    y = np.asarray(y0, dtype=np.float64)
    y = y / np.linalg.norm(y)
    for threshold, steps in zip(thresholds_deg, iterations):
        cos_t, sin_t = math.cos(math.radians(threshold)), math.sin(math.radians(threshold))
        for _ in range(steps):
            similarity = np.abs(votes @ y)
            weight = (similarity < sin_t).astype(np.float64) - (similarity > cos_t)
            if not weight.any():
                continue
            a = (votes * weight[:, None]).T @ votes
            _, vectors = np.linalg.eigh(a)  # eigenvalues ascending: column 0 is the smallest
            new = vectors[:, 0]
            y = -new if new @ y < 0 else new
    return y


def rotation_between(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """3 x 3 rotation taking the direction ``source`` onto ``target`` (Rodrigues about source x target), as getRMatrix.

    As the original, the angle is acosd(|source . target|), so the two should lie in the same half-space
    (gravity_direction keeps its estimate on y0's side), and angles of at most 0.1 degree give the identity,
    so a camera that is level to within that keeps its own y as "up".
    """
    a = np.asarray(source, dtype=np.float64) / np.linalg.norm(source)
    b = np.asarray(target, dtype=np.float64) / np.linalg.norm(target)
    angle = math.degrees(math.acos(min(1.0, abs(float(a @ b)))))
    if angle <= IDENTITY_BELOW_DEG:
        return np.eye(3)
    axis = np.cross(a, b)
    axis /= np.linalg.norm(axis)
    skew = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    phi = math.radians(angle)
    return np.eye(3) + math.sin(phi) * skew + (1.0 - math.cos(phi)) * (skew @ skew)


def height_above_floor(points: np.ndarray, valid: np.ndarray, gravity: np.ndarray) -> np.ndarray:
    """H x W height in cm above the estimated floor (NaN where not valid), as processDepthImage.

    The cloud is rotated by R' with R = rotation_between(y0, gravity), so that gravity becomes +y, and the height
    is -y. The floor is the lowest valid point (prctile(h, 0)) unless that lies less than 90 cm below the camera:
    then the floor is taken as not in view and put 130 cm below the camera.
    """
    rotation = rotation_between(np.asarray(Y0), gravity)
    height = -(np.asarray(points, dtype=np.float64) @ rotation[:, 1])  # -(R' p)_y
    height = np.where(valid, height, np.nan)
    floor = float(np.min(height[valid])) if valid.any() else FALLBACK_FLOOR_CM
    if floor > FLOOR_MIN_DROP_CM:
        floor = FALLBACK_FLOOR_CM
    return height - floor


def angle_with_gravity(normals: np.ndarray, gravity: np.ndarray) -> np.ndarray:
    """H x W angle in degrees between each normal and gravity; a NaN normal gives 180.

    180 is what the original computes for NaN: MATLAB's min and max skip NaN, so min(1, max(-1, NaN)) is -1.
    """
    cosine = np.asarray(normals, dtype=np.float64) @ np.asarray(gravity, dtype=np.float64)
    cosine = np.where(np.isnan(cosine), -1.0, np.clip(cosine, -1.0, 1.0))
    return np.degrees(np.arccos(cosine))


def matlab_uint8(values: np.ndarray) -> np.ndarray:
    """Cast to uint8 as MATLAB's uint8(): round half away from zero, saturate to [0, 255], NaN -> 0.

    numpy's astype truncates and wraps and np.rint rounds half to even, so 2.5 would become 2 instead of 3.
    """
    x = np.asarray(values, dtype=np.float64)
    whole = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf: the infinities saturate below anyway
        rounded = whole + np.sign(x) * (np.abs(x - whole) >= 0.5)
    return np.clip(np.nan_to_num(rounded, nan=0.0), 0, 255).astype(np.uint8)


def encode_hha(depth_m: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """H x W float depth in metres (0 or NaN = missing), 3x3 camera matrix -> H x W x 3 uint8,
    channels in the order: horizontal disparity, height above the estimated floor, angle with gravity.

    Disparity is 31000 / max(Z, 100 cm); height is in cm above the estimated floor; the angle channel is
    the normal's angle with gravity + 38 (floor ~38, wall ~128, ceiling ~218). Missing pixels are (0, 0, 0);
    their depth enters no plane fit and no floor estimate (hole pixels next to valid ones still get a fitted
    normal that votes for gravity, as in the original). The intrinsics are read as getPointCloudFromZ reads
    them (1-based pixel grid, see point_cloud).
    """
    depth = _checked_depth(depth_m)
    camera = _checked_intrinsics(intrinsics)
    missing = ~(np.isfinite(depth) & (depth > 0))
    if missing.all():
        raise InputError("HHA depth has no valid pixel: every pixel is 0 or NaN")
    depth_cm = np.where(missing, 0.0, depth * 100.0)
    points = point_cloud(depth_cm, camera)
    normals = surface_normals(depth_cm, missing, camera, ANGLE_RADIUS)
    gravity = gravity_direction(surface_normals(depth_cm, missing, camera, GRAVITY_RADIUS))
    height = height_above_floor(points, ~missing, gravity)
    disparity = DISPARITY_SCALE / np.maximum(depth_cm, MIN_DEPTH_CM)
    angle = angle_with_gravity(normals, gravity) + ANGLE_OFFSET_DEG
    hha = matlab_uint8(np.stack([disparity, height, angle], axis=-1))
    hha[missing] = 0
    return hha


def _sign_or_one(x: np.ndarray) -> np.ndarray:
    """sign(x) with 0 and NaN taken as +1, as the original treats them when orienting normals."""
    return np.where(x < 0, -1.0, 1.0)


def _focal_centre(intrinsics: np.ndarray) -> tuple[float, float, float, float]:
    k = np.asarray(intrinsics, dtype=np.float64)
    return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])


def _checked_depth(depth_m: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise InputError(f"HHA depth must be a 2-D H x W array of metres, got shape {depth.shape}")
    if not np.issubdtype(depth.dtype, np.floating):
        raise InputError(f"HHA depth must be floating-point metres, got dtype {depth.dtype} (convert millimetres with / 1000)")
    depth = depth.astype(np.float64)
    if np.any(np.isinf(depth)) or np.any(depth < 0):
        raise InputError("HHA depth has negative or infinite values; missing pixels must be 0 or NaN")
    return depth


def _checked_intrinsics(intrinsics: np.ndarray) -> np.ndarray:
    camera = np.asarray(intrinsics)
    if camera.shape != (3, 3) or not np.issubdtype(camera.dtype, np.number):
        raise InputError(f"HHA intrinsics must be a numeric 3x3 camera matrix, got shape {camera.shape}")
    camera = camera.astype(np.float64)
    if not np.isfinite(camera).all():
        raise InputError("HHA intrinsics must be finite")
    if camera[0, 0] <= 0 or camera[1, 1] <= 0:
        raise InputError(f"HHA intrinsics must have positive focal lengths, got fx={camera[0, 0]:g} and fy={camera[1, 1]:g}")
    return camera


def moved_intrinsics(matrix: np.ndarray, top: int, left: int, scale_y: float, scale_x: float) -> np.ndarray:
    """A 3 x 3 camera matrix (1-based pixel convention, as ``point_cloud`` reads it) for the image cropped at (top, left)
    and resized by the scales with pixel centres kept aligned: u' = (u - left - 0.5) * scale + 0.5."""
    moved = np.array(matrix, dtype=np.float64)
    moved[0, 0] *= scale_x
    moved[1, 1] *= scale_y
    moved[0, 2] = (moved[0, 2] - left - 0.5) * scale_x + 0.5
    moved[1, 2] = (moved[1, 2] - top - 0.5) * scale_y + 0.5
    return moved


def scaled_intrinsics(intrinsics: np.ndarray, source_hw: tuple[int, int], target_hw: tuple[int, int]) -> np.ndarray:
    """The camera matrix of a whole image resized from ``source_hw`` to ``target_hw`` (``moved_intrinsics`` without a crop)."""
    return moved_intrinsics(intrinsics, 0, 0, target_hw[0] / source_hw[0], target_hw[1] / source_hw[1])


def hha_at_size(depth_m: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HHA of a frame at its own resolution (the windows and the floor estimate as the original sees them), then
    resized to ``size`` (h, w) as colour images are (area when shrinking): how caches store it."""
    hha = encode_hha(depth_m, intrinsics)
    if hha.shape[:2] == tuple(size):
        return hha
    shrinking = size[0] < hha.shape[0] or size[1] < hha.shape[1]
    return cv2.resize(hha, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
