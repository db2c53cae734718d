"""HHA encoding on synthetic rooms whose depth, gravity and heights are known analytically.

The depth maps are ray-plane intersections through the 1-based pixel grid of the NYU RGB camera
(MATLAB's convention, which the encoder follows), so the expected channels are computed here from
the geometry, not from the encoder's own helpers.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from crossmodal.data.hha import (
    encode_hha,
    gravity_direction,
    matlab_uint8,
    point_cloud,
    rotation_between,
    surface_normals,
)
from crossmodal.errors import InputError

FX, FY, CX, CY = 518.8579, 519.4696, 325.5824, 253.7362
K = np.array([[FX, 0.0, CX], [0.0, FY, CY], [0.0, 0.0, 1.0]])
H, W = 480, 640
FLOOR, FRONT, SIDE, CEILING = 0, 1, 2, 3


def _rays(height: int = H, width: int = W) -> np.ndarray:
    """Per-pixel ray (x/z, y/z, 1) for the 1-based grid: pixel [i, j] is u = j + 1, v = i + 1."""
    u = np.arange(1, width + 1, dtype=np.float64)[None, :]
    v = np.arange(1, height + 1, dtype=np.float64)[:, None]
    return np.stack(np.broadcast_arrays((u - CX) / FX, (v - CY) / FY, np.ones((height, width))), axis=-1)


def _camera_rotation(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World (x right, y down, z forward, level) -> camera, for a camera pitched down then rolled."""
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    pitch = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    roll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return roll @ pitch


def _room(pitch_deg=10.0, roll_deg=0.0, camera_cm=140.0, front_cm=350.0, side_cm=150.0, ceiling_cm: float | None = 220.0):
    """Depth (cm), plane label per pixel, gravity (camera frame, down) and the points of a box-shaped room.

    Planes in the camera frame: floor g.P = camera height, a wall ahead f.P = front_cm, a wall on the right
    r.P = side_cm, a ceiling -g.P = ceiling - camera height; each pixel sees the nearest one along its ray.
    """
    rotation = _camera_rotation(pitch_deg, roll_deg)
    gravity, forward, right = rotation @ [0.0, 1.0, 0.0], rotation @ [0.0, 0.0, 1.0], rotation @ [1.0, 0.0, 0.0]
    planes = [(gravity, camera_cm), (forward, front_cm), (right, side_cm)]
    if ceiling_cm is not None:
        planes.append((-gravity, ceiling_cm - camera_cm))
    rays = _rays()
    depth = np.full((H, W), np.inf)
    labels = np.full((H, W), -1)
    for index, (normal, offset) in enumerate(planes):
        with np.errstate(divide="ignore"):
            t = offset / (rays @ normal)
        t[t <= 0] = np.inf
        nearer = t < depth
        depth[nearer], labels[nearer] = t[nearer], index
    assert np.isfinite(depth).all()
    return depth, labels, gravity, rays * depth[..., None]


def _interior(labels: np.ndarray, label: int, margin: int = 12) -> np.ndarray:
    return ndimage.binary_erosion(labels == label, iterations=margin)


@pytest.fixture(scope="module")
def room():
    depth, labels, gravity, points = _room()
    return depth, labels, gravity, points, encode_hha(depth / 100.0, K)


def test_room_sees_every_plane(room):
    _, labels, _, _, _ = room
    for label in (FLOOR, FRONT, SIDE, CEILING):
        assert _interior(labels, label).sum() > 2000


def test_point_cloud_uses_the_one_based_matlab_grid():
    camera = np.array([[400.0, 0.0, 2.0], [0.0, 500.0, 1.0], [0.0, 0.0, 1.0]])
    points = point_cloud(np.full((2, 3), 200.0), camera)
    # Pixel [0, 1] is (u, v) = (2, 1): on the principal point.
    np.testing.assert_array_equal(points[0, 1], [0.0, 0.0, 200.0])
    np.testing.assert_allclose(points[0, 0], [(1 - 2) * 200 / 400, 0.0, 200.0])
    np.testing.assert_allclose(points[1, 2], [(3 - 2) * 200 / 400, (2 - 1) * 200 / 500, 200.0])


@pytest.mark.parametrize("radius", [3, 10])
def test_normals_of_a_noiseless_plane_are_exact(radius):
    normal = np.array([0.2, -0.3, 0.93])
    normal /= np.linalg.norm(normal)
    depth = 300.0 / (_rays() @ normal)  # the plane n . P = 300 cm, in front of the camera everywhere
    missing = np.random.default_rng(radius).random((H, W)) < 0.3
    estimate = surface_normals(depth, missing, K, radius)
    # Every pixel, the image border (cut windows) and the missing pixels (fitted from neighbours) included.
    assert np.abs(estimate - normal).max() < 1e-6


def test_normals_point_away_from_the_camera_and_need_three_valid_pixels():
    normal = np.array([0.1, 0.95, 0.3])
    normal /= np.linalg.norm(normal)
    rays = _rays()
    depth = np.where(rays @ normal > 0, 150.0 / (rays @ normal), 0.0)  # a floor-like plane, lower part of the image
    missing = depth == 0
    hole = np.zeros_like(missing)
    hole[395:404, 295:304] = True  # 9 x 9: the 7 x 7 window at its centre holds no valid pixel
    missing |= hole
    estimate = surface_normals(depth, missing, K, 3)
    np.testing.assert_allclose(estimate[~missing], np.broadcast_to(normal, estimate[~missing].shape), atol=1e-6)  # +y: away
    np.testing.assert_allclose(estimate[396, 296], normal, atol=1e-6)  # missing, fitted from its valid neighbours
    assert np.isnan(estimate[399, 299]).all()
    assert np.isnan(estimate[:45]).all()  # windows above the horizon see nothing


def test_angle_channel_is_38_on_the_floor_128_on_walls_218_on_the_ceiling(room):
    _, labels, _, _, hha = room
    for label, expected in ((FLOOR, 38), (FRONT, 128), (SIDE, 128), (CEILING, 218)):
        values = hha[..., 2][_interior(labels, label)].astype(int)
        assert np.abs(values - expected).max() <= 1, label


def test_height_channel_is_0_on_the_floor_and_the_true_height_elsewhere(room):
    depth, labels, gravity, points, hha = room
    heights = hha[..., 1].astype(int)
    assert np.abs(heights[_interior(labels, FLOOR)]).max() <= 1
    true_height = 140.0 - points @ gravity  # the camera is 140 cm above the floor
    for row, col in ((300, 200), (150, 320), (60, 100)):
        assert labels[row, col] == FRONT
        assert 20 < true_height[row, col] < 255
        assert abs(heights[row, col] - true_height[row, col]) <= 1
    assert np.abs(heights[_interior(labels, CEILING)] - 220).max() <= 1


def test_disparity_channel_is_31000_over_depth_rounded(room):
    depth, _, _, _, hha = room
    expected = np.floor(31000.0 / np.maximum(depth, 100.0) + 0.5).astype(int)
    for row, col in ((470, 320), (240, 320), (5, 5), (240, 630)):
        assert hha[row, col, 0] == expected[row, col]
    np.testing.assert_array_equal(hha[..., 0], np.minimum(expected, 255))
    assert hha[..., 0].min() < 255


@pytest.mark.parametrize(("metres", "expected"), [(0.5, 255), (1.0, 255), (1.2, 255), (1.25, 248), (3.1, 100), (6.2, 50), (6.3, 49)])
def test_disparity_saturates_near_the_camera(metres, expected):
    hha = encode_hha(np.full((40, 50), metres), K)
    assert (hha[..., 0] == expected).all()


@pytest.mark.parametrize(("pitch", "roll"), [(14.0, 4.0), (5.0, -6.0), (25.0, 3.0)])
def test_a_tilted_camera_still_finds_gravity_and_the_floor(pitch, roll):
    depth, labels, gravity, _ = _room(pitch_deg=pitch, roll_deg=roll)
    depth = np.round(depth * 10) / 10  # a sensor's 1 mm steps
    assert math.degrees(math.acos(gravity[1])) > 7  # the initial guess, image-down, is clearly wrong
    estimate = gravity_direction(surface_normals(depth, np.zeros((H, W), dtype=bool), K, 10))
    assert math.degrees(math.acos(min(1.0, float(estimate @ gravity)))) < 0.5
    hha = encode_hha(depth / 100.0, K)
    floor = _interior(labels, FLOOR)
    assert np.abs(hha[..., 2][floor].astype(int) - 38).max() <= 1
    assert np.abs(hha[..., 1][floor].astype(int)).max() <= 2


def test_missing_pixels_are_zero_in_every_channel_and_ignored(room):
    depth, labels, _, points, full = room
    depth_m = depth / 100.0
    holes = np.zeros((H, W), dtype=bool)
    holes[200:260, 100:180] = True  # on the front wall and into the floor
    holes[::37, ::41] = True
    depth_m[holes] = 0.0
    depth_m[holes & (np.arange(W)[None, :] % 2 == 0)] = np.nan  # some as NaN
    lone = (230, 140)  # a single measured pixel inside the hole: its 7 x 7 window has no other
    depth_m[lone] = depth[lone] / 100.0
    holes[lone] = False
    hha = encode_hha(depth_m, K)
    assert (hha[holes] == 0).all()
    assert (hha[~holes, 2] >= 38).all()  # so (0, 0, 0) never means a measured pixel
    assert hha[lone][2] == 218  # a NaN normal, as MATLAB computes it
    assert hha[lone][0] == round(31000.0 / depth[lone])
    far = ~ndimage.binary_dilation(holes, iterations=11)
    far[lone[0] - 11 : lone[0] + 12, lone[1] - 11 : lone[1] + 12] = False
    assert np.abs(hha[far].astype(int) - full[far].astype(int)).max() <= 1
    true_height = 140.0 - points @ room[2]
    assert abs(int(hha[100, 320, 1]) - true_height[100, 320]) <= 1


@pytest.mark.parametrize("front_cm", [150.0, 200.0, 218.0, 250.0])
def test_floor_is_the_lowest_point_unless_less_than_90_cm_below_the_camera(front_cm):
    # A level camera facing a wall with a wall on its right and no floor in view; its lowest point is that
    # of the wall at the bottom row: 65, 87, 95, 109 cm below the camera.
    depth, _, _, points = _room(pitch_deg=0.0, front_cm=front_cm, side_cm=0.4 * front_cm, ceiling_cm=None, camera_cm=1e6)
    lowest = points[..., 1].max()
    floor = lowest if lowest >= 90 else 130.0
    hha = encode_hha(depth / 100.0, K)
    for row, col in ((0, 0), (240, 320), (470, 100), (400, 600), (479, 200)):
        assert hha[row, col, 1] == math.floor(floor - points[row, col, 1] + 0.5)
    assert (hha[-1, 200, 1] == 0) == (lowest >= 90)


def test_rotation_takes_y0_onto_the_target_and_is_identity_within_a_tenth_of_a_degree():
    y0 = np.array([0.0, 1.0, 0.0])
    target = np.array([math.sin(math.radians(5.0)), math.cos(math.radians(5.0)), 0.0])
    target = _camera_rotation(3.0, 0.0) @ target
    rotation = rotation_between(y0, target)
    np.testing.assert_allclose(rotation @ y0, target, atol=1e-12)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    almost = np.array([math.sin(math.radians(0.09)), math.cos(math.radians(0.09)), 0.0])
    np.testing.assert_array_equal(rotation_between(y0, almost), np.eye(3))
    beyond = np.array([math.sin(math.radians(0.11)), math.cos(math.radians(0.11)), 0.0])
    np.testing.assert_allclose(rotation_between(y0, beyond) @ y0, beyond, atol=1e-12)


def test_gravity_second_stage_drops_normals_between_15_and_45_degrees():
    # Floor, ceiling and two walls of a tilted camera, plus a ramp 30 degrees off the floor: the 45-degree
    # stage lets the ramp pull the estimate, the 15-degree stage leaves it out and lands on gravity exactly.
    tilt = _camera_rotation(8.0, 12.0)
    gravity = tilt @ [0.0, 1.0, 0.0]
    ramp = tilt @ _camera_rotation(0.0, -30.0) @ [0.0, 1.0, 0.0]
    parts = [(gravity, 1000), (-gravity, 300), (tilt @ [1.0, 0.0, 0.0], 600), (tilt @ [0.0, 0.0, 1.0], 800), (ramp, 700)]
    normals = np.concatenate([np.tile(n, (count, 1)) for n, count in parts]).reshape(-1, 1, 3)
    assert math.degrees(math.acos(gravity[1])) > 14
    np.testing.assert_allclose(gravity_direction(normals), gravity, atol=1e-9)
    one_stage = gravity_direction(normals, thresholds_deg=(45.0,), iterations=(5,))
    assert math.degrees(math.acos(float(one_stage @ gravity))) > 5


def test_gravity_without_votes_keeps_the_initial_guess():
    np.testing.assert_array_equal(gravity_direction(np.full((4, 5, 3), np.nan)), [0.0, 1.0, 0.0])


def test_uint8_cast_rounds_half_away_from_zero_and_saturates_like_matlab():
    values = np.array([0.49999999999999994, 0.5, 1.5, 2.5, 3.5, 2.4999, 254.5, 255.4, 300.0, -0.4, -3.0, np.nan, np.inf, -np.inf])
    expected = np.array([0, 1, 2, 3, 4, 2, 255, 255, 255, 0, 0, 0, 255, 0], dtype=np.uint8)
    result = matlab_uint8(values)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)


def test_float32_depth_encodes_like_float64(room):
    depth, _, _, _, full = room
    hha = encode_hha((depth / 100.0).astype(np.float32), K)
    assert hha.shape == (H, W, 3) and hha.dtype == np.uint8
    assert np.abs(hha.astype(int) - full.astype(int)).max() <= 1


GOOD = np.ones((4, 5))


@pytest.mark.parametrize(
    ("depth", "intrinsics", "message"),
    [
        (np.ones((4, 5, 1)), K, "HHA depth must be a 2-D H x W array of metres, got shape (4, 5, 1)"),
        (np.ones(5), K, "HHA depth must be a 2-D H x W array of metres, got shape (5,)"),
        (np.ones((4, 5), dtype=np.uint16), K, "HHA depth must be floating-point metres, got dtype uint16 (convert millimetres with / 1000)"),
        (-GOOD, K, "HHA depth has negative or infinite values; missing pixels must be 0 or NaN"),
        (np.where(np.eye(4, 5) > 0, np.inf, 1.0), K, "HHA depth has negative or infinite values; missing pixels must be 0 or NaN"),
        (np.zeros((4, 5)), K, "HHA depth has no valid pixel: every pixel is 0 or NaN"),
        (np.full((4, 5), np.nan), K, "HHA depth has no valid pixel: every pixel is 0 or NaN"),
        (GOOD, K[:2], "HHA intrinsics must be a numeric 3x3 camera matrix, got shape (2, 3)"),
        (GOOD, np.eye(4), "HHA intrinsics must be a numeric 3x3 camera matrix, got shape (4, 4)"),
        (GOOD, np.diag([0.0, 500.0, 1.0]), "HHA intrinsics must have positive focal lengths, got fx=0 and fy=500"),
        (GOOD, np.diag([500.0, -5.0, 1.0]), "HHA intrinsics must have positive focal lengths, got fx=500 and fy=-5"),
        (GOOD, np.diag([np.nan, 500.0, 1.0]), "HHA intrinsics must be finite"),
    ],
)
def test_bad_inputs_raise_one_sentence(depth, intrinsics, message):
    with pytest.raises(InputError) as raised:
        encode_hha(depth, intrinsics)
    assert str(raised.value) == message
