"""Scene types to furnished rooms: dimensions, doors and windows, then furniture placed the way
people place it (against walls, around tables, in rows), then things on furniture and walls.

Scene types differ in what they usually contain (a bathroom has a toilet, a classroom rows of
desks) but share much (chairs, cabinets, pictures, boxes), and counts are random, so the scene
class is learnable from context yet not from any single object.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from crossmodal.data.synthetic import furniture as fur
from crossmodal.data.synthetic.materials import (
    CARPET,
    GLASS,
    PAINT,
    PANEL,
    TILES,
    WALLPAPER,
    WOOD,
    MaterialBank,
)
from crossmodal.data.synthetic.parts import Item, Workshop

WALLS = (0, 1, 2, 3)  # y = 0, x = width, y = depth, x = 0; each faces into the room
GAP = 0.05  # clearance kept between pieces of furniture


@dataclass(frozen=True)
class Opening:
    """A window or door: a recess cut into a wall, its far face glass or a door leaf."""

    kind: str
    wall: int
    a0: float  # extent along the wall
    a1: float
    z0: float
    z1: float
    recess: float
    back_material: int
    reveal_material: int


@dataclass
class Layout:
    """A furnished room, in metres, with the room spanning [0, width] x [0, depth] x [0, height]."""

    scene: str
    width: float
    depth: float
    height: float
    floor_material: int
    ceiling_material: int
    wall_materials: tuple[int, int, int, int]
    items: list[Item]
    openings: list[Opening]
    focus: list[Item]  # what someone photographing this room would aim at
    bank: MaterialBank


@dataclass
class Room:
    """Placement bookkeeping: floor footprints and occupied wall rectangles."""

    ws: Workshop
    width: float
    depth: float
    height: float
    items: list[Item] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)
    focus: list[Item] = field(default_factory=list)
    floor_rects: list[tuple[tuple[float, float, float, float], Item | None]] = field(default_factory=list)
    wall_rects: list[list[tuple[float, float, float, float]]] = field(default_factory=lambda: [[], [], [], []])
    surface_rects: dict[int, list[tuple[float, float, float, float, float]]] = field(default_factory=dict)

    def wall_length(self, wall: int) -> float:
        return self.width if wall in (0, 2) else self.depth

    def wall_pose(self, wall: int, along: float, offset: float) -> tuple[float, float, float]:
        """Centre and yaw of an object whose centre is ``offset`` from the wall, facing the room."""
        return [(along, offset, 0.0), (self.width - offset, along, math.pi / 2),
                (along, self.depth - offset, math.pi), (offset, along, 3 * math.pi / 2)][wall]

    def _floor_free(self, rect: tuple[float, float, float, float], ignore: tuple[Item, ...] = ()) -> bool:
        x0, y0, x1, y1 = rect
        if min(x0, y0) < -GAP or x1 > self.width + GAP or y1 > self.depth + GAP:
            return False
        return all(x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0
                   for (a0, b0, a1, b1), owner in self.floor_rects if owner is None or owner not in ignore)

    def wall_free(self, wall: int, a0: float, a1: float, z0: float, z1: float) -> bool:
        """Whether a rectangle on a wall (along-wall extent, heights) is inside it and unoccupied."""
        if a0 < 0 or a1 > self.wall_length(wall) or z1 > self.height:
            return False
        return all(a1 <= b0 or b1 <= a0 or z1 <= c0 or c1 <= z0 for b0, b1, c0, c1 in self.wall_rects[wall])

    def add(self, item: Item, focus: bool = False) -> Item:
        if item.solid and item.z < 0.3:
            self.floor_rects.append((item.footprint(), item))
        self.items.append(item)
        if focus:
            self.focus.append(item)
        return item

    def against_wall(self, item: Item, walls: tuple[int, ...] = WALLS, z: float = 0.0, along: float | None = None,
                     tries: int = 40, focus: bool = False) -> bool:
        """Back to a wall (hanging at height z when z > 0), clear of openings and other things."""
        rng = self.ws.rng
        weights = np.asarray([self.wall_length(w) for w in walls])
        for _ in range(tries if along is None else 1):
            wall = walls[int(rng.choice(len(walls), p=weights / weights.sum()))]
            length = self.wall_length(wall)
            if item.width > length - 0.02:
                continue
            a = along if along is not None else float(rng.uniform(item.width / 2 + 0.01, length - item.width / 2 - 0.01))
            x, y, yaw = self.wall_pose(wall, a, item.depth / 2 + 0.005)
            item.x, item.y, item.z, item.yaw = x, y, z, yaw
            if (z > 0.3 or not item.solid or self._floor_free(item.footprint(GAP / 2))) and self.wall_free(
                    wall, a - item.width / 2, a + item.width / 2, z, z + item.height):
                self.wall_rects[wall].append((a - item.width / 2, a + item.width / 2, z, z + item.height))
                self.add(item, focus)
                return True
        return False

    def hang(self, item: Item, wall: int, along: float, z: float) -> None:
        """Flat against a wall at a given spot, unchecked: window dressing overlaps its window."""
        item.x, item.y, item.yaw = self.wall_pose(wall, along, item.depth / 2 + 0.01)
        item.z = z
        self.items.append(item)

    def at(self, item: Item, x: float, y: float, yaw: float, ignore: tuple[Item, ...] = (), focus: bool = False) -> bool:
        item.x, item.y, item.z, item.yaw = x, y, 0.0, yaw
        if item.solid and not self._floor_free(item.footprint(GAP / 2), ignore):
            return False
        self.add(item, focus)
        return True

    def free_standing(self, item: Item, margin: float = 0.4, tries: int = 40, focus: bool = False,
                      yaw: float | None = None) -> bool:
        rng = self.ws.rng
        for _ in range(tries):
            angle = yaw if yaw is not None else float(rng.integers(4)) * math.pi / 2 + float(rng.normal(0, 0.05))
            x = float(rng.uniform(margin, self.width - margin))
            y = float(rng.uniform(margin, self.depth - margin))
            if self.at(item, x, y, angle, focus=focus):
                return True
        return False

    def on_top(self, item: Item, parent: Item, tries: int = 8) -> bool:
        """Stand a small thing on one of the parent's free tops, not overlapping its neighbours."""
        rng = self.ws.rng
        used = self.surface_rects.setdefault(id(parent), [])
        for _ in range(tries):
            if not parent.surfaces:
                return False
            x0, x1, y0, y1, z = parent.surfaces[int(rng.integers(len(parent.surfaces)))]
            if item.width > x1 - x0 or item.depth > y1 - y0:
                continue
            lx = float(rng.uniform(x0 + item.width / 2, x1 - item.width / 2))
            ly = float(rng.uniform(y0 + item.depth / 2, y1 - item.depth / 2))
            rect = (lx - item.width / 2, lx + item.width / 2, ly - item.depth / 2, ly + item.depth / 2, z)
            if any(r[4] == z and not (rect[1] <= r[0] or r[1] <= rect[0] or rect[3] <= r[2] or r[3] <= rect[2])
                   for r in used):
                continue
            used.append(rect)
            item.x, item.y = parent.to_world(lx, ly)
            item.z = parent.z + z
            item.yaw = parent.yaw + float(rng.choice((0.0, math.pi))) + float(rng.normal(0, 0.12))
            self.items.append(item)
            return True
        return False

    def opening(self, kind: str, width: float, z0: float, z1: float, walls: tuple[int, ...] = WALLS) -> bool:
        ws = self.ws
        for _ in range(30):
            wall = ws.pick(walls)
            length = self.wall_length(wall)
            if width > length - 0.5:
                continue
            a0 = ws.u(0.2, length - width - 0.2)
            if not self.wall_free(wall, a0 - 0.1, a0 + width + 0.1, z0, z1):
                continue
            if kind == "door":
                back = ws.bank.add(PANEL, ws.pick(("casework", "white")), "dark", scale=width, gloss=0.15)
                reveal = ws.casework()
                recess = ws.u(0.02, 0.08)
                x, y, _ = self.wall_pose(wall, a0 + width / 2, 0.45)  # keep the door's swing clear
                hx, hy = (width / 2, 0.45) if wall in (0, 2) else (0.45, width / 2)
                self.floor_rects.append(((x - hx, y - hy, x + hx, y + hy), None))
            else:
                back = ws.bank.add(GLASS, "plant", "sky", scale=ws.u(0.4, 0.9), emission=ws.u(3.0, 8.0), ir_dropout=0.85)
                reveal = -1  # the wall's own material
                recess = ws.u(0.08, 0.25)
            self.wall_rects[wall].append((a0, a0 + width, z0, z1))
            self.openings.append(Opening(kind, wall, a0, a0 + width, z0, z1, recess, back, reveal))
            return True
        return False


# ----------------------------------------------------------------------------------------------
# shared recipes


def _structure(room: Room, doors: tuple[int, int], windows: tuple[int, int], dressing: float = 0.6) -> None:
    ws = room.ws
    for _ in range(ws.count(*doors)):
        room.opening("door", ws.u(0.75, 0.95), 0.0, min(ws.u(1.98, 2.12), room.height - 0.1))
    for _ in range(ws.count(*windows)):
        z0 = ws.u(0.75, 1.1)
        room.opening("window", ws.u(0.6, 2.0), z0, min(z0 + ws.u(1.0, 1.5), room.height - 0.15))
    for window in [o for o in room.openings if o.kind == "window"]:
        if ws.chance(dressing):
            _dress_window(room, window)


def _dress_window(room: Room, window: Opening) -> None:
    """Blinds over the top of the window, or a curtain on each side where the wall is free."""
    ws = room.ws
    top = min(window.z1 + 0.15, room.height - 0.02)
    if ws.chance(0.4):
        blinds = fur.curtain(ws, window.a1 - window.a0 + 0.04, (top - window.z0) * ws.u(0.15, 0.9), "blinds")
        room.hang(blinds, window.wall, (window.a0 + window.a1) / 2, top - blinds.height)
        return
    for side in (-1, 1):
        w = ws.u(0.25, 0.6)
        a = window.a0 - w / 2 + 0.1 if side < 0 else window.a1 + w / 2 - 0.1
        beside = (a - w / 2, window.a0) if side < 0 else (window.a1, a + w / 2)
        if room.wall_free(window.wall, beside[0], beside[1], 0.0, top):
            room.wall_rects[window.wall].append((beside[0], beside[1], 0.0, top))
            panel = fur.curtain(ws, w, top - ws.u(0.02, 0.05))
            room.hang(panel, window.wall, a, top - panel.height)


def _wall_of(item: Item) -> int:
    """The wall an object placed against a wall has its back to (its yaw is a multiple of 90 degrees)."""
    return round((item.yaw % (2 * math.pi)) / (math.pi / 2)) % 4


def _on_walls(room: Room, label: str, count: int, z: tuple[float, float] = (1.1, 1.7),
              walls: tuple[int, ...] = WALLS) -> None:
    for _ in range(count):
        thing = fur.flat_on_wall(room.ws, label)
        room.against_wall(thing, walls, z=max(0.5, room.ws.u(*z) - thing.height / 2), tries=15)


def _props(room: Room, parents: list[Item], kinds: tuple[str, ...], count: int) -> None:
    for _ in range(count):
        if parents:
            room.on_top(fur.small_prop(room.ws, room.ws.pick(kinds)), room.ws.pick(parents))


def _floor_clutter(room: Room, kinds: tuple[str, ...], count: int) -> None:
    for _ in range(count):
        kind = room.ws.pick(kinds)
        builder = {"garbage bin": fur.garbage_bin, "plant": fur.plant, "stool": fur.stool}.get(kind)
        thing = builder(room.ws) if builder else fur.small_prop(room.ws, kind)
        if not room.against_wall(thing, tries=10):
            room.free_standing(thing, tries=10)


def _lights(room: Room, panels: bool, count: int) -> None:
    ws = room.ws
    for _ in range(count):
        light = fur.ceiling_light(ws, panels)
        light.x, light.y = ws.u(0.2, 0.8) * room.width, ws.u(0.2, 0.8) * room.depth
        light.z, light.yaw = room.height - light.height, ws.pick((0.0, math.pi / 2))
        light.lights.append((0.0, 0.0, -0.15, ws.u(0.6, 1.0)))
        room.items.append(light)


def _desk_with_chair(room: Room, along_wall: bool = True, focus: bool = True) -> Item | None:
    ws = room.ws
    desk = fur.desk(ws)
    placed = room.against_wall(desk, focus=focus) if along_wall else room.free_standing(desk, focus=focus)
    if not placed:
        return None
    chair = fur.chair(ws)
    x, y = desk.to_world(ws.u(-0.2, 0.2), desk.depth / 2 + chair.depth / 2 - ws.u(0.0, 0.15))
    room.at(chair, x, y, desk.yaw + math.pi + ws.u(-0.4, 0.4), ignore=(desk,))
    if ws.chance(0.7):
        if not room.on_top(fur.screen(ws, "monitor", (0.45, 0.65)), desk):
            room.on_top(fur.small_prop(ws, "laptop"), desk)
        room.on_top(fur.small_prop(ws, "keyboard"), desk)
    _props(room, [desk], ("paper", "books", "cup", "bottle", "laptop", "printer"), ws.count(0, 3))
    return desk


def _table_with_chairs(room: Room, table: Item, chairs: int, centred: bool = True, focus: bool = True) -> None:
    ws = room.ws
    if centred:
        x = room.width / 2 + ws.u(-0.2, 0.2) * room.width
        y = room.depth / 2 + ws.u(-0.2, 0.2) * room.depth
        if not room.at(table, x, y, ws.pick((0.0, math.pi / 2)) + ws.u(-0.05, 0.05), focus=focus) and \
                not room.free_standing(table, focus=focus):
            return
    elif not room.free_standing(table, focus=focus):
        return
    seats = []  # (local x, local y, chair yaw relative to the table)
    per_side = max(1, int(table.width / 0.6))
    for i in range(per_side):
        lx = -table.width / 2 + (i + 0.5) * table.width / per_side
        seats += [(lx, table.depth / 2, math.pi), (lx, -table.depth / 2, 0.0)]
    seats += [(table.width / 2, 0.0, math.pi / 2), (-table.width / 2, 0.0, -math.pi / 2)]
    for index in ws.rng.permutation(len(seats))[:chairs]:
        lx, ly, rel = seats[int(index)]
        chair = fur.chair(ws)
        pull = chair.depth / 2 - 0.1 + ws.u(0.0, 0.3)
        x, y = table.to_world(lx + pull * math.sin(rel), ly - pull * math.cos(rel))  # back from the edge
        room.at(chair, x, y, table.yaw + rel + ws.u(-0.3, 0.3), ignore=(table,))


def _grid(room: Room, build: Callable[[], Item], rows: int, cols: int, front_gap: float, pitch: tuple[float, float],
          focus: bool = True, chairs: bool = False) -> list[Item]:
    """Rows of identical-use furniture facing wall 0 (desks in a classroom, shelves in a shop)."""
    ws = room.ws
    placed = []
    x_step, y_step = pitch
    x_start = (room.width - (cols - 1) * x_step) / 2
    for r in range(rows):
        for c in range(cols):
            item = build()
            x = x_start + c * x_step + ws.u(-0.08, 0.08)
            y = front_gap + r * y_step + ws.u(-0.08, 0.08)
            if not room.at(item, x, y, ws.u(-0.06, 0.06), focus=focus):
                continue
            placed.append(item)
            if chairs:
                chair = fur.chair(ws)
                cx, cy = item.to_world(ws.u(-0.1, 0.1), item.depth / 2 + chair.depth / 2 - ws.u(0.0, 0.12))
                room.at(chair, cx, cy, item.yaw + math.pi + ws.u(-0.3, 0.3), ignore=(item,))
    return placed


def _some(room: Room, build: Callable[[], Item], count: int, focus: bool = False, wall: bool = True) -> list[Item]:
    placed = []
    for _ in range(count):
        item = build()
        if (room.against_wall(item, focus=focus) if wall else room.free_standing(item, focus=focus)):
            placed.append(item)
    return placed


def _lived_in(room: Room) -> None:
    """What every room gathers whatever its type: more storage along the walls, things on every
    free top, pictures, a radiator under a window."""
    ws = room.ws
    area = room.width * room.depth
    storage = (lambda: fur.cabinet(ws), lambda: fur.bookshelf(ws), lambda: fur.cabinet(ws, (0.4, 0.9)),
               lambda: fur.plant(ws), lambda: fur.garbage_bin(ws), lambda: fur.small_prop(ws, "box"),
               lambda: fur.bench(ws, "ottoman"), lambda: fur.chair(ws))
    for _ in range(ws.count(0, max(1, int(area / 6)))):
        room.against_wall(ws.pick(storage)(), tries=10)
    if ws.chance(0.3):
        shelves = fur.wall_shelves(ws)
        if room.against_wall(shelves, z=ws.u(1.0, 1.5), tries=10):
            _props(room, [shelves], ("books", "box", "vase", "basket", "toy", "bottle"), ws.count(1, 4))
    tops = [item for item in room.items if item.surfaces and item.kind not in ("bed", "shelves")]
    _props(room, tops, ("books", "box", "bottle", "cup", "vase", "paper", "bag", "basket", "toy", "bowl"),
           ws.count(0, 2 * len(tops)))
    _on_walls(room, "picture", ws.count(0, 2))
    windows = [o for o in room.openings if o.kind == "window"]
    if windows and ws.chance(0.3):
        window = ws.pick(windows)
        radiator = fur.appliance_box(ws, "radiator", (min(1.0, window.a1 - window.a0), 0.1, 0.55))
        room.against_wall(radiator, (window.wall,), z=0.1, along=(window.a0 + window.a1) / 2)
    if ws.chance(0.12):
        room.against_wall(fur.appliance_box(ws, "air conditioner", (0.8, 0.22, 0.28), elevated=True),
                          z=room.height - ws.u(0.4, 0.6), tries=10)


# ----------------------------------------------------------------------------------------------
# scene types


def _bedroom(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (1, 2))
    if ws.chance(0.35):
        room.free_standing(fur.rug(ws), margin=1.0)
    beds = (_some(room, lambda: fur.bed(ws), 2 if ws.chance(0.15) else 1, focus=True)
            or _some(room, lambda: fur.bed(ws), 1, focus=True, wall=False))
    for bed in beds:
        _props(room, [bed], ("clothes", "bag", "stuffed animal", "books", "laptop"), ws.count(0, 2))
        for side in (-1, 1):
            if not ws.chance(0.6):
                continue
            stand = fur.night_stand(ws)
            wall = _wall_of(bed)
            along = (bed.x if wall in (0, 2) else bed.y) + side * (bed.width / 2 + stand.width / 2 + 0.03)
            if room.against_wall(stand, (wall,), along=along):
                if ws.chance(0.7):
                    room.on_top(fur.lamp(ws), stand)
                _props(room, [stand], ("books", "cup", "bottle", "clothes"), ws.count(0, 1))
    tops = _some(room, lambda: fur.dresser(ws), 1 if ws.chance(0.6) else 0, focus=True)
    for top in tops:
        if ws.chance(0.25):
            room.on_top(fur.screen(ws), top)
        _props(room, [top], ("box", "vase", "books", "basket", "clothes", "bottle"), ws.count(0, 3))
    if ws.chance(0.3):
        _on_walls(room, "mirror", 1)
    _some(room, lambda: fur.wardrobe(ws), 1 if ws.chance(0.35) else 0)
    _some(room, lambda: fur.cabinet(ws), ws.count(0, 1))
    if ws.chance(0.3):
        _desk_with_chair(room, focus=False)
    _some(room, lambda: fur.bookshelf(ws), 1 if ws.chance(0.2) else 0)
    _some(room, lambda: fur.chair(ws), 1 if ws.chance(0.25) else 0, wall=False)
    if ws.chance(0.15):
        tv = fur.screen(ws, stand=False)
        room.against_wall(tv, z=ws.u(1.0, 1.5))
    _on_walls(room, "picture", ws.count(0, 3))
    _floor_clutter(room, ("box", "bag", "clothes", "garbage bin", "plant", "basket", "toy"), ws.count(0, 3))
    _lights(room, False, 1)


def _kitchen(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (0, 2), dressing=0.4)
    walls = [int(w) for w in ws.rng.permutation(4)]
    wanted = ws.count(1, 3)
    runs: list[Item] = []
    for wall in walls:  # worktops along one to three walls, shortened until they fit between doors
        if len(runs) == wanted:
            break
        length = room.wall_length(wall) * ws.u(0.45, 0.95)
        while length > 0.6:
            run = fur.counter_run(ws, length, sink=not runs, stove=len(runs) == wanted - 1, uppers=ws.chance(0.65))
            if room.against_wall(run, (wall,), tries=8, focus=True):
                runs.append(run)
                break
            length *= 0.8
    if ws.chance(0.85):
        room.against_wall(fur.refrigerator(ws), focus=True)
    if runs and ws.chance(0.5):
        room.on_top(fur.small_prop(ws, "microwave"), ws.pick(runs))
    _props(room, runs, ("bottle", "cup", "bowl", "vase", "box", "paper", "basket", "books"), ws.count(1, 5))
    if ws.chance(0.35) and min(room.width, room.depth) > 2.8:
        _table_with_chairs(room, fur.table(ws, (0.7, 1.4, 0.6, 0.9)), ws.count(1, 4))
    if ws.chance(0.3):
        _some(room, lambda: fur.stool(ws), ws.count(1, 3), wall=False)
    _some(room, lambda: fur.cabinet(ws, (1.8, 2.2)), 1 if ws.chance(0.3) else 0)
    _on_walls(room, "picture", ws.count(0, 1))
    _floor_clutter(room, ("garbage bin", "box", "bag", "basket"), ws.count(0, 2))
    _lights(room, ws.chance(0.3), ws.count(1, 2))


def _living_room(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (1, 3))
    if ws.chance(0.6):
        room.free_standing(fur.rug(ws), margin=1.2)
    sofas = _some(room, lambda: fur.sofa(ws), 1, focus=True) or _some(room, lambda: fur.sofa(ws), 1, focus=True, wall=False)
    for sofa in sofas:
        table = fur.coffee_table(ws)
        x, y = sofa.to_world(0.0, sofa.depth / 2 + table.depth / 2 + ws.u(0.35, 0.6))
        if room.at(table, x, y, sofa.yaw, focus=True):
            _props(room, [table], ("books", "cup", "bowl", "vase", "paper", "toy"), ws.count(0, 3))
    if ws.chance(0.5):
        _some(room, lambda: fur.sofa(ws), 1)
    _some(room, lambda: fur.armchair(ws), ws.count(0, 2), wall=ws.chance(0.5))
    if ws.chance(0.8):
        stand = fur.cabinet(ws, (0.4, 0.6), label=ws.pick(("tv stand", "cabinet")))
        if room.against_wall(stand, focus=True):
            room.on_top(fur.screen(ws), stand)
    if ws.chance(0.5):
        _some(room, lambda: fur.lamp(ws, floor=True), 1)
    _some(room, lambda: fur.bookshelf(ws), 1 if ws.chance(0.4) else 0)
    _some(room, lambda: fur.cabinet(ws), 1 if ws.chance(0.3) else 0)
    if ws.chance(0.25):
        shelves = fur.wall_shelves(ws)
        if room.against_wall(shelves, z=ws.u(1.0, 1.4)):
            _props(room, [shelves], ("books", "vase", "box", "toy", "basket"), ws.count(1, 4))
    if ws.chance(0.15):
        _table_with_chairs(room, fur.table(ws), ws.count(2, 4), centred=False)
    _on_walls(room, "picture", ws.count(1, 4))
    _floor_clutter(room, ("plant", "box", "bag", "toy", "basket", "garbage bin"), ws.count(0, 3))
    _lights(room, False, ws.count(0, 1))


def _bathroom(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 1), (0, 1), dressing=0.3)
    if ws.chance(0.65):
        room.against_wall(fur.bathtub(ws), focus=True)
    room.against_wall(fur.toilet(ws), focus=True)
    sink = fur.vanity(ws)
    if room.against_wall(sink, focus=True):
        wall = _wall_of(sink)
        if ws.chance(0.8):
            mirror = fur.flat_on_wall(ws, "mirror")
            room.against_wall(mirror, (wall,), z=ws.u(1.05, 1.2), along=sink.x if wall in (0, 2) else sink.y)
        _props(room, [sink], ("bottle", "cup", "toilet paper"), ws.count(0, 2))
    _on_walls(room, "towel", ws.count(1, 2), z=(1.0, 1.4))
    if ws.chance(0.5):
        room.free_standing(fur.rug(ws, "floor mat"), margin=0.5)
    if ws.chance(0.2):
        room.against_wall(fur.cabinet(ws, (0.5, 0.7)), z=ws.u(1.3, 1.5))
    _floor_clutter(room, ("garbage bin", "basket", "toilet paper", "box"), ws.count(0, 2))
    _lights(room, False, 1)


def _dining_room(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (1, 3))
    if ws.chance(0.3):
        room.free_standing(fur.rug(ws), margin=1.2)
    table = fur.table(ws, (1.2, 2.2, 0.8, 1.1))
    _table_with_chairs(room, table, ws.count(3, 8))
    if table in room.items:
        _props(room, [table], ("bowl", "vase", "cup", "bottle", "paper", "books"), ws.count(0, 4))
        if ws.chance(0.4):
            pendant = fur.lamp(ws)
            pendant.x, pendant.y, pendant.z = table.x, table.y, room.height - pendant.height - ws.u(0.3, 0.8)
            room.items.append(pendant)
    sideboards = _some(room, lambda: fur.cabinet(ws, (0.8, 2.0)), ws.count(0, 2))
    _props(room, sideboards, ("vase", "bowl", "box", "books"), ws.count(0, 2))
    _some(room, lambda: fur.dresser(ws), 1 if ws.chance(0.2) else 0)
    _on_walls(room, "picture", ws.count(1, 3))
    _floor_clutter(room, ("plant", "box", "basket"), ws.count(0, 2))
    _lights(room, False, 1)


def _office(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (1, 3), dressing=0.5)
    for _ in range(ws.count(2, 6)):
        _desk_with_chair(room, along_wall=ws.chance(0.6))
    cabinets = _some(room, lambda: fur.cabinet(ws, (0.7, 1.4)), ws.count(0, 3))
    if cabinets and ws.chance(0.4):
        room.on_top(fur.small_prop(ws, "printer"), ws.pick(cabinets))
    _some(room, lambda: fur.bookshelf(ws), 1 if ws.chance(0.5) else 0)
    if ws.chance(0.4):
        _on_walls(room, "whiteboard", 1, z=(1.3, 1.6))
    if ws.chance(0.25):
        _table_with_chairs(room, fur.table(ws), ws.count(2, 4), centred=False)
    _on_walls(room, "picture", ws.count(0, 2))
    _floor_clutter(room, ("box", "garbage bin", "plant", "bag", "box"), ws.count(1, 4))
    _lights(room, True, ws.count(1, 3))


def _home_office(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 1), (1, 2))
    _desk_with_chair(room)
    _some(room, lambda: fur.bookshelf(ws), 1 if ws.chance(0.6) else 0, focus=True)
    _some(room, lambda: fur.cabinet(ws), 1 if ws.chance(0.4) else 0)
    if ws.chance(0.3):
        shelves = fur.wall_shelves(ws)
        if room.against_wall(shelves, z=ws.u(1.0, 1.4)):
            _props(room, [shelves], ("books", "box", "basket", "toy"), ws.count(1, 3))
    if ws.chance(0.2):
        _some(room, lambda: fur.sofa(ws), 1)
    if ws.chance(0.1):
        _some(room, lambda: fur.bed(ws), 1)
    if ws.chance(0.4):
        _some(room, lambda: fur.lamp(ws, floor=True), 1)
    _on_walls(room, "picture", ws.count(0, 2))
    _floor_clutter(room, ("box", "box", "bag", "garbage bin", "plant", "printer"), ws.count(1, 3))
    _lights(room, False, 1)


def _classroom(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (2, 4), dressing=0.5)
    _on_walls(room, ws.pick(("whiteboard", "blackboard")), 1, z=(1.3, 1.6), walls=(0,))
    rows, cols = ws.count(3, 5), ws.count(3, 5)
    _grid(room, lambda: fur.desk(ws) if ws.chance(0.5) else fur.table(ws, (0.6, 1.2, 0.45, 0.6)), rows, cols,
          ws.u(2.0, 2.8), (room.width / (cols + 0.5), ws.u(1.1, 1.5)), chairs=True)
    teacher = fur.desk(ws)
    room.at(teacher, ws.u(0.25, 0.75) * room.width, ws.u(1.0, 1.4), math.pi)
    _some(room, lambda: fur.bookshelf(ws) if ws.chance(0.5) else fur.cabinet(ws), ws.count(0, 3))
    _on_walls(room, "picture", ws.count(0, 3))
    _floor_clutter(room, ("garbage bin", "box", "bag"), ws.count(0, 3))
    _lights(room, True, ws.count(2, 4))


def _bookstore(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (0, 2), dressing=0.2)
    _some(room, lambda: fur.bookshelf(ws), ws.count(3, 8), focus=True)
    cols = max(1, int((room.width - 1.5) / ws.u(1.6, 2.4)))
    _grid(room, lambda: fur.bookshelf(ws), ws.count(1, 3), cols, ws.u(2.0, 3.0),
          ((room.width - 1.0) / max(cols, 1), ws.u(1.6, 2.2)))
    if ws.chance(0.5):
        table = fur.table(ws)
        if room.free_standing(table):
            _props(room, [table], ("books",), ws.count(2, 6))
    if ws.chance(0.4):
        counter = fur.cabinet(ws, (0.9, 1.1), label="counter")
        room.against_wall(counter)
    _some(room, lambda: fur.chair(ws), ws.count(0, 2), wall=False)
    _floor_clutter(room, ("box", "box", "books", "basket"), ws.count(0, 3))
    _lights(room, True, ws.count(2, 4))


def _conference_room(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (0, 3), dressing=0.6)
    _table_with_chairs(room, fur.table(ws, (2.0, 4.0, 1.0, 1.4)), ws.count(4, 12))
    board = ws.pick(("whiteboard", "projector screen", "television"))
    if board == "television":
        room.against_wall(fur.screen(ws, stand=False, width=(1.0, 1.6)), z=ws.u(1.0, 1.3), focus=True)
    else:
        _on_walls(room, board, 1, z=(1.3, 1.7))
    _some(room, lambda: fur.cabinet(ws, (0.7, 1.2)), ws.count(0, 2))
    _on_walls(room, "picture", ws.count(0, 2))
    _floor_clutter(room, ("plant", "garbage bin"), ws.count(0, 2))
    _lights(room, True, ws.count(2, 4))


def _study(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 1), (1, 2))
    _desk_with_chair(room)
    _some(room, lambda: fur.bookshelf(ws), ws.count(1, 3), focus=True)
    _some(room, lambda: fur.armchair(ws) if ws.chance(0.5) else fur.sofa(ws), ws.count(0, 1))
    _some(room, lambda: fur.lamp(ws, floor=True), 1 if ws.chance(0.5) else 0)
    _on_walls(room, "picture", ws.count(0, 2))
    _floor_clutter(room, ("box", "books", "plant", "bag"), ws.count(0, 3))
    _lights(room, False, 1)


def _playroom(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 1), (1, 2))
    room.free_standing(fur.rug(ws), margin=1.0)
    shelves = _some(room, lambda: fur.bookshelf(ws) if ws.chance(0.5) else fur.cabinet(ws, (0.5, 1.0)), ws.count(1, 3))
    _props(room, shelves, ("toy", "stuffed animal", "box", "basket"), ws.count(1, 4))
    if ws.chance(0.6):
        _table_with_chairs(room, fur.table(ws, (0.6, 1.0, 0.5, 0.8), height=(0.45, 0.55)), ws.count(1, 4), centred=False)
    _some(room, lambda: fur.sofa(ws), 1 if ws.chance(0.3) else 0)
    for _ in range(ws.count(3, 8)):
        room.free_standing(fur.small_prop(ws, ws.pick(("toy", "stuffed animal", "box", "basket", "toy"))),
                           margin=0.3, tries=8)
    _on_walls(room, "picture", ws.count(0, 3))
    _lights(room, False, 1)


def _dinette(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 1), (1, 2))
    run = fur.counter_run(ws, room.wall_length(0) * ws.u(0.4, 0.8), sink=ws.chance(0.5), stove=False,
                          uppers=ws.chance(0.5))
    if room.against_wall(run, (0, 2)):
        _props(room, [run], ("bottle", "cup", "bowl", "microwave"), ws.count(0, 3))
    _table_with_chairs(room, fur.table(ws, (0.7, 1.2, 0.6, 0.9)), ws.count(2, 4))
    _some(room, lambda: fur.cabinet(ws), ws.count(0, 1))
    _on_walls(room, "picture", ws.count(0, 2))
    _lights(room, False, 1)


def _furniture_store(room: Room) -> None:
    ws = room.ws
    _structure(room, (0, 1), (0, 2), dressing=0.2)
    builders = (fur.sofa, fur.armchair, fur.table, fur.bed, fur.cabinet, fur.dresser, fur.coffee_table, fur.chair,
                fur.bookshelf, fur.night_stand)
    for _ in range(ws.count(6, 14)):
        room.free_standing(ws.pick(builders)(ws), margin=0.6, tries=10, focus=True)
    _some(room, lambda: fur.lamp(ws, floor=True), ws.count(0, 3), wall=False)
    _lights(room, True, ws.count(2, 4))


def _laundry_room(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 1), (0, 1))
    for _ in range(ws.count(1, 2)):
        room.against_wall(fur.appliance_box(ws, "washing machine", (0.6, 0.6, 0.85)), focus=True)
    run = fur.counter_run(ws, ws.u(0.8, 1.8), sink=True, stove=False, uppers=ws.chance(0.5))
    if room.against_wall(run):
        _props(room, [run], ("bottle", "basket", "clothes", "box"), ws.count(0, 3))
    _some(room, lambda: fur.cabinet(ws), ws.count(0, 2))
    _floor_clutter(room, ("basket", "clothes", "bag", "box", "garbage bin"), ws.count(1, 4))
    _lights(room, False, 1)


def _computer_lab(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (1, 3), dressing=0.5)
    rows, cols = ws.count(2, 4), ws.count(2, 4)
    desks = _grid(room, lambda: fur.desk(ws), rows, cols, ws.u(1.5, 2.2),
                  (room.width / (cols + 0.5), ws.u(1.4, 1.8)), chairs=True)
    for desk in desks:
        room.on_top(fur.screen(ws, "monitor", (0.45, 0.6)), desk)
        room.on_top(fur.small_prop(ws, "keyboard"), desk)
    if ws.chance(0.6):
        _on_walls(room, "whiteboard", 1, z=(1.3, 1.6), walls=(0,))
    _some(room, lambda: fur.cabinet(ws, (0.7, 1.2)), ws.count(0, 2))
    _floor_clutter(room, ("box", "garbage bin", "bag"), ws.count(0, 2))
    _lights(room, True, ws.count(2, 4))


def _reception_room(room: Room) -> None:
    ws = room.ws
    _structure(room, (1, 2), (1, 3))
    counter = fur.cabinet(ws, (0.9, 1.15), label="counter")
    room.free_standing(counter, margin=1.0, focus=True)
    _some(room, lambda: fur.sofa(ws) if ws.chance(0.5) else fur.armchair(ws), ws.count(2, 4))
    table = fur.coffee_table(ws)
    if room.free_standing(table, margin=1.0):
        _props(room, [table], ("paper", "books", "vase"), ws.count(0, 2))
    _on_walls(room, "picture", ws.count(1, 3))
    _floor_clutter(room, ("plant", "plant", "garbage bin"), ws.count(1, 3))
    _lights(room, True, ws.count(1, 3))


def _foyer(room: Room) -> None:
    ws = room.ws
    _structure(room, (2, 3), (0, 1))
    tops = _some(room, lambda: ws.pick((fur.cabinet, fur.dresser, fur.bench))(ws), ws.count(1, 2), focus=True)
    _props(room, tops, ("vase", "bowl", "bag", "box", "basket"), ws.count(0, 3))
    if ws.chance(0.6):
        _on_walls(room, "mirror", 1)
    if ws.chance(0.5):
        room.free_standing(fur.rug(ws, ws.pick(("rug", "floor mat"))), margin=0.8)
    _on_walls(room, "picture", ws.count(0, 2))
    _floor_clutter(room, ("plant", "bag", "box", "basket"), ws.count(0, 3))
    _lights(room, False, 1)


@dataclass(frozen=True)
class SceneType:
    build: Callable[[Room], None]
    size: tuple[float, float, float, float, float, float]  # width, depth and height ranges in metres
    weight: float  # relative frequency, after the labeled NYU-Depth V2 set
    tiled: float  # chance of tiled walls


SCENE_TYPES: dict[str, SceneType] = {
    "bedroom": SceneType(_bedroom, (3.0, 5.0, 3.0, 5.5, 2.4, 2.9), 383, 0.0),
    "kitchen": SceneType(_kitchen, (2.6, 5.0, 2.6, 5.5, 2.4, 2.9), 225, 0.3),
    "living_room": SceneType(_living_room, (3.5, 7.0, 3.5, 7.0, 2.4, 3.2), 221, 0.0),
    "bathroom": SceneType(_bathroom, (1.8, 3.2, 2.0, 3.5, 2.3, 2.7), 121, 0.6),
    "dining_room": SceneType(_dining_room, (3.0, 6.0, 3.0, 6.0, 2.4, 3.0), 117, 0.0),
    "office": SceneType(_office, (4.0, 8.0, 4.0, 8.0, 2.5, 3.2), 78, 0.0),
    "home_office": SceneType(_home_office, (2.5, 4.5, 2.5, 4.5, 2.4, 2.9), 50, 0.0),
    "classroom": SceneType(_classroom, (6.0, 9.0, 7.0, 10.0, 2.7, 3.3), 49, 0.0),
    "bookstore": SceneType(_bookstore, (5.0, 10.0, 6.0, 12.0, 2.7, 3.5), 36, 0.0),
    "conference_room": SceneType(_conference_room, (4.0, 7.0, 4.0, 8.0, 2.5, 3.2), 20, 0.0),
    "study": SceneType(_study, (2.5, 4.5, 2.5, 4.5, 2.4, 2.9), 25, 0.0),
    "playroom": SceneType(_playroom, (3.0, 5.5, 3.0, 5.5, 2.4, 2.9), 25, 0.0),
    "dinette": SceneType(_dinette, (2.5, 4.0, 2.5, 4.0, 2.4, 2.8), 20, 0.1),
    "furniture_store": SceneType(_furniture_store, (6.0, 12.0, 6.0, 12.0, 2.8, 4.0), 20, 0.0),
    "laundry_room": SceneType(_laundry_room, (1.8, 3.2, 2.0, 3.5, 2.3, 2.7), 15, 0.4),
    "computer_lab": SceneType(_computer_lab, (5.0, 8.0, 5.0, 8.0, 2.6, 3.2), 15, 0.0),
    "reception_room": SceneType(_reception_room, (4.0, 7.0, 4.0, 7.0, 2.5, 3.2), 15, 0.0),
    "foyer": SceneType(_foyer, (2.0, 4.0, 2.5, 5.0, 2.4, 3.0), 14, 0.0),
}


def sample_scene_type(rng: np.random.Generator) -> str:
    names = list(SCENE_TYPES)
    weights = np.asarray([SCENE_TYPES[n].weight for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _surfaces(ws: Workshop, tiled: float) -> tuple[int, int, tuple[int, int, int, int]]:
    bank = ws.bank
    floor_kind = ws.pick((WOOD, WOOD, TILES, CARPET, PAINT))
    palette = {WOOD: "floor_wood", TILES: "floor_tile", CARPET: "carpet", PAINT: "floor_tile"}[floor_kind]
    floor = bank.add(floor_kind, palette, "grey", scale=ws.u(0.1, 0.2) if floor_kind == WOOD else ws.u(0.25, 0.6),
                     gloss=0.15 if floor_kind != CARPET else 0.0)
    ceiling = bank.add(PAINT, "ceiling")
    if ws.chance(tiled):
        wall = bank.add(TILES, ws.pick(("sanitary", "floor_tile", "wall")), "white", scale=ws.u(0.1, 0.3), gloss=0.3)
    else:
        wall = bank.add(WALLPAPER if ws.chance(0.15) else PAINT, "wall", "wall", scale=ws.u(0.05, 0.3))
    walls = [wall] * 4
    if ws.chance(0.15):
        walls[ws.count(0, 3)] = bank.add(PAINT, "wall")
    return floor, ceiling, (walls[0], walls[1], walls[2], walls[3])


def build_layout(rng: np.random.Generator, scene: str) -> Layout:
    """A furnished room of the given scene type (one of ``SCENE_TYPES``)."""
    spec = SCENE_TYPES[scene]
    ws = Workshop(rng, MaterialBank(rng))
    w0, w1, d0, d1, h0, h1 = spec.size
    room = Room(ws, ws.u(w0, w1), ws.u(d0, d1), ws.u(h0, h1))
    floor, ceiling, walls = _surfaces(ws, spec.tiled)
    spec.build(room)
    _lived_in(room)
    return Layout(scene, room.width, room.depth, room.height, floor, ceiling, walls, room.items, room.openings,
                  room.focus, ws.bank)
