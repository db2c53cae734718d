"""Vectorised ray casting of a room: the room's inside, window and door recesses, then every
furniture primitive against only the pixels its bounding box projects to.

Primitives are boxes and vertical cylinders in their object's frame (a pose of position and
yaw); rays are turned into that frame once per primitive, so every test is axis-aligned.
A second, fully vectorised pass recovers per pixel the face hit, its normal, texture
coordinates, label and material.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossmodal.data.synthetic.camera import Camera
from crossmodal.data.synthetic.labels import RAW_IDS
from crossmodal.data.synthetic.layout import Layout
from crossmodal.data.synthetic.parts import CYLINDER, INSIDE_BOX

EPSILON = 1e-4
NEAR = 0.05
# room face -> wall index (faces -x, +x, -y, +y are the walls at x=0, x=width, y=0, y=depth)
FACE_OF_WALL = (2, 1, 3, 0)


@dataclass(frozen=True)
class Primitives:
    """One row per primitive: row 0 is the room, then openings, then furniture parts."""

    shape: np.ndarray  # (n,) BOX, CYLINDER or INSIDE_BOX
    pose: np.ndarray  # (n, 5) x, y, z, cos(yaw), sin(yaw)
    lo: np.ndarray  # (n, 3) in the object's frame
    hi: np.ndarray
    labels: np.ndarray  # (n, 6) raw label id per face
    materials: np.ndarray  # (n, 6) material id per face
    group: np.ndarray  # (n,) object index; -1 for the room and its openings
    opening_face: np.ndarray  # (n,) room face an opening is cut into, -1 otherwise


def primitives_from_layout(layout: Layout) -> Primitives:
    w, d, h = layout.width, layout.depth, layout.height
    walls = layout.wall_materials
    rows: list[tuple] = []
    wall, floor, ceiling = RAW_IDS["wall"], RAW_IDS["floor"], RAW_IDS["ceiling"]
    face_walls = (walls[3], walls[1], walls[0], walls[2])  # materials in room-face order
    rows.append((INSIDE_BOX, (0, 0, 0, 1, 0), (0, 0, 0), (w, d, h), (wall,) * 4 + (floor, ceiling),
                 face_walls + (layout.floor_material, layout.ceiling_material), -1, -1))
    for o in layout.openings:
        face = FACE_OF_WALL[o.wall]
        lo, hi = [
            ((o.a0, -o.recess, o.z0), (o.a1, 0.0, o.z1)),
            ((w, o.a0, o.z0), (w + o.recess, o.a1, o.z1)),
            ((o.a0, d, o.z0), (o.a1, d + o.recess, o.z1)),
            ((-o.recess, o.a0, o.z0), (0.0, o.a1, o.z1)),
        ][o.wall]
        reveal_label = RAW_IDS["door frame"] if o.kind == "door" else wall
        reveal = o.reveal_material if o.reveal_material >= 0 else walls[o.wall]
        labels = [reveal_label] * 6
        materials = [reveal] * 6
        labels[face], materials[face] = RAW_IDS[o.kind], o.back_material
        rows.append((INSIDE_BOX, (0, 0, 0, 1, 0), lo, hi, tuple(labels), tuple(materials), -1, face))
    for index, item in enumerate(layout.items):
        pose = (item.x, item.y, item.z, np.cos(item.yaw), np.sin(item.yaw))
        for part in item.parts:
            rows.append((part.shape, pose, part.lo, part.hi, part.labels, part.materials, index, -1))
    columns = list(zip(*rows))
    return Primitives(
        shape=np.asarray(columns[0], dtype=np.int8),
        pose=np.asarray(columns[1], dtype=np.float64),
        lo=np.asarray(columns[2], dtype=np.float64),
        hi=np.asarray(columns[3], dtype=np.float64),
        labels=np.asarray(columns[4], dtype=np.uint16),
        materials=np.asarray(columns[5], dtype=np.int32),
        group=np.asarray(columns[6], dtype=np.int32),
        opening_face=np.asarray(columns[7], dtype=np.int8),
    )


@dataclass(frozen=True)
class Hits:
    depth: np.ndarray  # H x W float32, metres along the optical axis
    primitive: np.ndarray  # H x W int32
    point: np.ndarray  # H x W x 3 room frame
    normal: np.ndarray  # H x W x 3 unit, facing the camera side of the surface
    tex: np.ndarray  # H x W x 2 surface coordinates in metres
    uv: np.ndarray  # H x W x 2 surface coordinates scaled to [0, 1] over the face
    extent: np.ndarray  # H x W x 2 face size in metres
    label: np.ndarray  # H x W uint16 raw label id
    material: np.ndarray  # H x W int32
    facing: np.ndarray  # H x W cosine between the ray and the normal


def _inside_exit(origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to where rays leave a box they are inside of, and the face (0..5) they leave by."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = (np.where(dx > 0, np.float32(hi[0]), np.float32(lo[0])) - np.float32(origin[0])) / dx
        ty = (np.where(dy > 0, np.float32(hi[1]), np.float32(lo[1])) - np.float32(origin[1])) / dy
        tz = (np.where(dz > 0, np.float32(hi[2]), np.float32(lo[2])) - np.float32(origin[2])) / dz
    tx, ty, tz = (np.where(d == 0, np.float32(np.inf), t) for t, d in ((tx, dx), (ty, dy), (tz, dz)))
    exit_t = np.minimum(np.minimum(tx, ty), tz)
    face = np.where(exit_t == tx, (dx > 0), np.where(exit_t == ty, 2 + (dy > 0), 4 + (dz > 0)))
    return exit_t, face.astype(np.int8)


def _to_local(pose: tuple[float, ...], origin: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> tuple:
    """The camera position and ray directions in an object's frame (rotation about z only)."""
    x, y, z, c, s = pose
    ox, oy, oz = (float(v) for v in origin)
    ox, oy = ox - x, oy - y
    return (c * ox + s * oy, -s * ox + c * oy, oz - z), c * dx + s * dy, -s * dx + c * dy


def _box_distance(o: tuple, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = (lo[0] - o[0]) / dx, (hi[0] - o[0]) / dx
        near, far = np.minimum(a, b), np.maximum(a, b)
        a, b = (lo[1] - o[1]) / dy, (hi[1] - o[1]) / dy
        near, far = np.maximum(near, np.minimum(a, b)), np.minimum(far, np.maximum(a, b))
        a, b = (lo[2] - o[2]) / dz, (hi[2] - o[2]) / dz
        near, far = np.maximum(near, np.minimum(a, b)), np.minimum(far, np.maximum(a, b))
    return np.where((near <= far) & (near > EPSILON), near, np.inf)


def _cylinder_distance(o: tuple, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    r = (hi[0] - lo[0]) / 2
    px, py = o[0] - (lo[0] + r), o[1] - (lo[1] + r)
    a = dx * dx + dy * dy
    b = 2 * (px * dx + py * dy)
    disc = b * b - 4 * a * (px * px + py * py - r * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        z = o[2] + side * dz
        side = np.where((disc >= 0) & (side > EPSILON) & (z >= lo[2]) & (z <= hi[2]), side, np.inf)
        if lo[2] <= o[2] <= hi[2]:
            return side
        cap_z = hi[2] if o[2] > hi[2] else lo[2]
        cap = (cap_z - o[2]) / dz
        cx, cy = px + cap * dx, py + cap * dy
        cap = np.where((cap > EPSILON) & (cx * cx + cy * cy <= r * r), cap, np.inf)
    return np.minimum(side, cap)


def _screen_rects(camera: Camera, pose: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Pixel rows and columns (r0, r1, c0, c1) covering each box's projection; empty when the box is
    behind the camera, the whole image when it straddles the camera plane."""
    n = len(pose)
    picks = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij")).reshape(3, 8).T  # 8 corners
    corners = np.where(picks[None] == 1, hi[:, None, :], lo[:, None, :])  # n x 8 x 3
    x, y, z, c, s = (pose[:, i:i + 1] for i in range(5))
    world = np.stack([x + c * corners[..., 0] - s * corners[..., 1], y + s * corners[..., 0] + c * corners[..., 1],
                      z + corners[..., 2]], axis=-1)
    u, v, depth = camera.project(world.reshape(-1, 3))
    u, v, depth = u.reshape(n, 8), v.reshape(n, 8), depth.reshape(n, 8)
    rects = np.stack([np.floor(v.min(1)) - 1, np.ceil(v.max(1)) + 2, np.floor(u.min(1)) - 1, np.ceil(u.max(1)) + 2], 1)
    rects = np.nan_to_num(rects, nan=0.0, posinf=1e6, neginf=-1e6)
    rects[:, :2] = np.clip(rects[:, :2], 0, camera.height)
    rects[:, 2:] = np.clip(rects[:, 2:], 0, camera.width)
    straddles = depth.min(1) < NEAR
    rects[straddles] = (0, camera.height, 0, camera.width)
    rects[depth.max(1) < NEAR] = 0
    return rects.astype(np.int64)


def _trace(prims: Primitives, camera: Camera, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    origin = camera.position
    depth, face = _inside_exit(origin, dx, dy, dz, prims.lo[0], prims.hi[0])
    primitive = np.zeros(depth.shape, dtype=np.int32)
    point = [np.float32(origin[i]) + depth * d for i, d in enumerate((dx, dy, dz))]
    for k in np.nonzero(prims.opening_face >= 0)[0]:
        f = prims.opening_face[k]
        a, b = [axis for axis in range(3) if axis != f // 2]
        lo, hi = prims.lo[k], prims.hi[k]
        inside = ((face == f) & (point[a] >= lo[a]) & (point[a] <= hi[a]) & (point[b] >= lo[b]) & (point[b] <= hi[b]))
        if inside.any():
            depth[inside] = _inside_exit(origin, dx[inside], dy[inside], dz[inside], lo, hi)[0]
            primitive[inside] = k
    rects = _screen_rects(camera, prims.pose, prims.lo, prims.hi)
    groups = prims.group
    starts = np.flatnonzero(np.diff(groups, prepend=-2))  # parts of one object are consecutive rows
    for first, last in zip(starts, list(starts[1:]) + [len(groups)]):
        if groups[first] < 0:
            continue
        pose = tuple(prims.pose[first].tolist())
        if last - first > 2:  # reject objects that are off screen or hidden as a whole
            r0, c0 = rects[first:last, 0].min(), rects[first:last, 2].min()
            r1, c1 = rects[first:last, 1].max(), rects[first:last, 3].max()
            if r1 <= r0 or c1 <= c0:
                continue
            lo, hi = prims.lo[first:last].min(axis=0).tolist(), prims.hi[first:last].max(axis=0).tolist()
            o, lx, ly = _to_local(pose, origin, dx[r0:r1, c0:c1], dy[r0:r1, c0:c1])
            if not (_box_distance(o, lx, ly, dz[r0:r1, c0:c1], lo, hi) < depth[r0:r1, c0:c1]).any():
                continue
        for k in range(first, last):
            r0, r1, c0, c1 = rects[k]
            if r1 <= r0 or c1 <= c0:
                continue
            o, lx, ly = _to_local(pose, origin, dx[r0:r1, c0:c1], dy[r0:r1, c0:c1])
            distance = _cylinder_distance if prims.shape[k] == CYLINDER else _box_distance
            t = distance(o, lx, ly, dz[r0:r1, c0:c1], prims.lo[k].tolist(), prims.hi[k].tolist())
            window = depth[r0:r1, c0:c1]
            closer = t < window
            window[closer] = t[closer]
            primitive[r0:r1, c0:c1][closer] = k
    return depth, primitive


def cast(prims: Primitives, camera: Camera) -> Hits:
    rays = camera.rays()
    dx, dy, dz = (np.ascontiguousarray(rays[..., i]) for i in range(3))
    depth, primitive = _trace(prims, camera, dx, dy, dz)
    shape = depth.shape
    k = primitive.ravel()
    t = depth.ravel()
    column = lambda table, i: table[:, i].astype(np.float32)[k]  # noqa: E731
    px, py, pz = (np.float32(camera.position[i]) + t * d.ravel() for i, d in enumerate((dx, dy, dz)))
    c, s = column(prims.pose, 3), column(prims.pose, 4)
    rx, ry = px - column(prims.pose, 0), py - column(prims.pose, 1)
    local = (c * rx + s * ry, -s * rx + c * ry, pz - column(prims.pose, 2))
    lo = [column(prims.lo, i) for i in range(3)]
    hi = [column(prims.hi, i) for i in range(3)]

    # the face hit is the one whose plane the point lies on
    to_lo = [np.abs(local[i] - lo[i]) for i in range(3)]
    to_hi = [np.abs(local[i] - hi[i]) for i in range(3)]
    gap = [np.minimum(to_lo[i], to_hi[i]) for i in range(3)]
    on_x = (gap[0] <= gap[1]) & (gap[0] <= gap[2])
    on_z = ~on_x & (gap[2] < gap[1])
    on_y = ~on_x & ~on_z
    axis = np.where(on_x, 0, np.where(on_y, 1, 2))
    upper = np.where(on_x, to_hi[0] < to_lo[0], np.where(on_y, to_hi[1] < to_lo[1], to_hi[2] < to_lo[2]))
    face = 2 * axis + upper
    sign = np.where(upper, np.float32(1), np.float32(-1))
    sign = np.where(prims.shape[k] == INSIDE_BOX, -sign, sign)
    normal = [np.where(axis == i, sign, np.float32(0)) for i in range(3)]
    # in-plane coordinates: (y, z) on x faces, (x, z) on y faces, (x, y) on floors and tops
    first, second = (np.where(on_x, local[1], local[0]), np.where(on_z, local[1], local[2]))
    first_lo, second_lo = np.where(on_x, lo[1], lo[0]), np.where(on_z, lo[1], lo[2])
    first_hi, second_hi = np.where(on_x, hi[1], hi[0]), np.where(on_z, hi[1], hi[2])
    tex = np.stack([first, second], axis=-1)
    extent = np.maximum(np.stack([first_hi - first_lo, second_hi - second_lo], axis=-1), np.float32(1e-3))
    uv = (tex - np.stack([first_lo, second_lo], axis=-1)) / extent

    round_ = np.flatnonzero(prims.shape[k] == CYLINDER)
    if len(round_):
        r = (hi[0][round_] - lo[0][round_]) / 2
        ox, oy = local[0][round_] - lo[0][round_] - r, local[1][round_] - lo[1][round_] - r
        z, z0, z1 = local[2][round_], lo[2][round_], hi[2][round_]
        rho = np.maximum(np.hypot(ox, oy), np.float32(1e-6))
        side = np.abs(rho - r) < np.minimum(np.abs(z - z0), np.abs(z - z1))
        normal[0][round_] = np.where(side, ox / rho, 0)
        normal[1][round_] = np.where(side, oy / rho, 0)
        normal[2][round_] = np.where(side, 0, np.where(z > (z0 + z1) / 2, 1, -1))
        angle = np.arctan2(oy, ox)
        height = np.maximum(z1 - z0, np.float32(1e-3))
        tex[round_] = np.where(side[:, None], np.stack([angle * r, z], -1), np.stack([ox, oy], -1))
        uv[round_] = np.where(side[:, None], np.stack([angle / np.float32(2 * np.pi) + 0.5, (z - z0) / height], -1),
                              np.stack([ox / (2 * r) + 0.5, oy / (2 * r) + 0.5], -1))
        extent[round_] = np.where(side[:, None], np.stack([np.float32(2 * np.pi) * r, height], -1),
                                  np.stack([2 * r, 2 * r], -1))
        face[round_] = 0  # cylinders carry one label and material for all faces

    world_normal = np.stack([c * normal[0] - s * normal[1], s * normal[0] + c * normal[1], normal[2]], axis=-1)
    unit = rays.reshape(-1, 3) / np.sqrt(dx.ravel() ** 2 + dy.ravel() ** 2 + dz.ravel() ** 2)[:, None]
    facing = np.abs(np.einsum("nc,nc->n", world_normal, unit))
    return Hits(
        depth=depth,
        primitive=primitive,
        point=np.stack([px, py, pz], axis=-1).reshape(*shape, 3),
        normal=world_normal.reshape(*shape, 3),
        tex=tex.reshape(*shape, 2),
        uv=np.clip(uv, 0.0, 1.0).reshape(*shape, 2),
        extent=extent.reshape(*shape, 2),
        label=prims.labels[k, face].reshape(shape),
        material=prims.materials[k, face].reshape(shape),
        facing=facing.reshape(shape),
    )
