"""Furniture and props, each a few boxes and cylinders with random proportions and materials.

Every builder returns an unplaced ``Item`` whose parts carry the NYU raw label of what a
human annotator would call that surface (a pillow on a bed is "pillow", books in a
bookshelf are "books").
"""
from __future__ import annotations

from crossmodal.data.synthetic.materials import (
    BOOKS,
    CARPET,
    FABRIC,
    FOLIAGE,
    GLASS,
    METAL,
    MIRROR,
    PAINT,
    PANEL,
    PICTURE,
    PORCELAIN,
    SCREEN,
    SLATS,
    TILES,
    WOOD,
)
from crossmodal.data.synthetic.parts import Item, Part, Workshop, box, cylinder


def _legs(w: float, d: float, h: float, size: float, inset: float, label: str, material: int) -> list[Part]:
    xs = (-w / 2 + inset, w / 2 - inset - size)
    ys = (-d / 2 + inset, d / 2 - inset - size)
    return [box(x, x + size, y, y + size, 0.0, h, label, material) for x in xs for y in ys]


def _top(w: float, d: float, z: float, margin: float = 0.03) -> tuple[float, float, float, float, float]:
    return (-w / 2 + margin, w / 2 - margin, -d / 2 + margin, d / 2 - margin, z)


def _panel(ws: Workshop, palette: str = "casework", rows: int = 1, scale: float | None = None) -> int:
    return ws.bank.add(PANEL, palette, "dark", scale=scale or ws.u(0.35, 0.6), rows=rows)


def bed(ws: Workshop) -> Item:
    w = ws.pick((0.95, 1.4, 1.6, 1.8)) + ws.u(-0.05, 0.05)
    d = ws.u(1.95, 2.15)
    frame_h, mattress_h = ws.u(0.2, 0.4), ws.u(0.18, 0.3)
    top = frame_h + mattress_h
    frame = ws.casework()
    bedding = ws.bank.add(FABRIC, "bedding", scale=1.0)
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, frame_h, "bed", frame),
             box(-w / 2 + 0.02, w / 2 - 0.02, -d / 2 + 0.05, d / 2 - 0.01, frame_h, top, "bed", bedding)]
    if ws.chance(0.6):  # duvet hanging over the sides
        cover = ws.bank.add(FABRIC, "bedding", scale=1.0)
        parts.append(box(-w / 2 - 0.03, w / 2 + 0.03, -d / 2 + ws.u(0.45, 0.7), d / 2 + 0.03,
                         top - 0.12, top + 0.04, "bed", cover))
    if ws.chance(0.75):
        parts.append(box(-w / 2, w / 2, -d / 2, -d / 2 + 0.06, 0.0, top + ws.u(0.35, 0.8), "bed", frame))
    if ws.chance(0.25):
        parts.append(box(-w / 2 + 0.1, w / 2 - 0.1, d / 2 - ws.u(0.3, 0.5), d / 2 - 0.05, top + 0.04,
                         top + 0.1, "blanket", ws.bank.add(FABRIC, "decor", scale=1.0)))
    pillows = 1 if w < 1.2 else 2
    pillow_w = (w - 0.2) / pillows
    for i in range(pillows):
        x0 = -w / 2 + 0.1 + i * pillow_w
        fabric = ws.bank.add(FABRIC, ws.pick(("bedding", "decor")), scale=1.0)
        parts.append(box(x0 + 0.03, x0 + pillow_w - 0.03, -d / 2 + 0.08, -d / 2 + ws.u(0.4, 0.5), top,
                         top + ws.u(0.1, 0.18), "pillow", fabric))
    return Item("bed", w, d, top + 0.8, parts, surfaces=[(-w / 2 + 0.15, w / 2 - 0.15, 0.0, d / 2 - 0.2, top + 0.04)])


def night_stand(ws: Workshop) -> Item:
    w, d, h = ws.u(0.4, 0.6), ws.u(0.35, 0.5), ws.u(0.45, 0.7)
    body = ws.casework()
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, "night stand", body,
                 front=_panel(ws, rows=ws.count(1, 3), scale=w))]
    return Item("night stand", w, d, h, parts, surfaces=[_top(w, d, h)])


def lamp(ws: Workshop, floor: bool = False) -> Item:
    stem_h = ws.u(1.2, 1.55) if floor else ws.u(0.2, 0.4)
    shade_r, shade_h = ws.u(0.12, 0.22), ws.u(0.18, 0.3)
    base_r = ws.u(0.12, 0.16) if floor else ws.u(0.06, 0.1)
    on = ws.chance(0.5)
    shade = ws.bank.add(FABRIC, ws.pick(("bedding", "decor")), scale=1.0, emission=ws.u(0.3, 0.8) if on else 0.0)
    stand = ws.bank.add(ws.pick((METAL, PORCELAIN, PAINT)), "decor", gloss=0.3)
    parts = [cylinder(0, 0, base_r, 0.0, 0.03, "lamp", stand),
             cylinder(0, 0, 0.012, 0.03, stem_h, "lamp", stand),
             cylinder(0, 0, shade_r, stem_h, stem_h + shade_h, "lamp", shade)]
    lights = [(0.0, 0.0, stem_h + shade_h / 2, ws.u(0.3, 0.6))] if on else []
    size = 2 * max(shade_r, base_r)
    return Item("lamp", size, size, stem_h + shade_h, parts, lights=lights)


def dresser(ws: Workshop) -> Item:
    w, d, h = ws.u(0.8, 1.6), ws.u(0.42, 0.55), ws.u(0.7, 1.1)
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, "dresser", ws.casework(),
                 front=_panel(ws, rows=ws.count(3, 5), scale=w / ws.count(1, 2)))]
    return Item("dresser", w, d, h, parts, surfaces=[_top(w, d, h)])


def cabinet(ws: Workshop, height: tuple[float, float] = (0.6, 2.0), label: str = "cabinet") -> Item:
    w, d, h = ws.u(0.4, 1.2), ws.u(0.35, 0.6), ws.u(*height)
    rows = 1 if h > 1.2 else ws.count(1, 3)
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, label, ws.casework(),
                 front=_panel(ws, rows=rows, scale=w / ws.count(1, 2)))]
    return Item(label, w, d, h, parts, surfaces=[_top(w, d, h)] if h < 1.6 else [])


def wardrobe(ws: Workshop) -> Item:
    w, d, h = ws.u(0.8, 1.6), ws.u(0.5, 0.65), ws.u(1.8, 2.2)
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, "wardrobe", ws.casework(), front=_panel(ws, scale=w / 2))]
    return Item("wardrobe", w, d, h, parts)


def table(ws: Workshop, size: tuple[float, float, float, float] = (0.8, 1.6, 0.6, 1.0),
          label: str = "table", height: tuple[float, float] = (0.72, 0.78)) -> Item:
    w, d, h = ws.u(size[0], size[1]), ws.u(size[2], size[3]), ws.u(*height)
    thick = ws.u(0.03, 0.05)
    body = ws.casework(gloss=0.15)
    if ws.chance(0.2):  # round top on a pedestal
        r = min(w, d) / 2
        parts = [cylinder(0, 0, r, h - thick, h, label, body), cylinder(0, 0, 0.05, 0.03, h - thick, label, body),
                 cylinder(0, 0, r * 0.45, 0.0, 0.03, label, body)]
        return Item(label, 2 * r, 2 * r, h, parts, surfaces=[_top(1.3 * r, 1.3 * r, h)])
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, h - thick, h, label, body)]
    parts += _legs(w, d, h - thick, ws.u(0.04, 0.07), ws.u(0.02, 0.08), label, body)
    return Item(label, w, d, h, parts, surfaces=[_top(w, d, h)])


def coffee_table(ws: Workshop) -> Item:
    if ws.chance(0.4):
        w, d, h = ws.u(0.8, 1.3), ws.u(0.45, 0.7), ws.u(0.35, 0.5)
        parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, "coffee table", ws.casework(gloss=0.2))]
        return Item("coffee table", w, d, h, parts, surfaces=[_top(w, d, h)])
    return table(ws, (0.8, 1.3, 0.45, 0.7), "coffee table", (0.35, 0.5))


def chair(ws: Workshop) -> Item:
    if ws.chance(0.35):
        return _office_chair(ws)
    w, d = ws.u(0.42, 0.5), ws.u(0.42, 0.5)
    seat_h, back_h, thick = ws.u(0.43, 0.48), ws.u(0.8, 1.0), ws.u(0.03, 0.06)
    frame = ws.casework() if ws.chance(0.6) else ws.bank.add(METAL, "metal", gloss=0.4)
    seat = ws.bank.add(FABRIC, "upholstery", scale=1.0) if ws.chance(0.5) else frame
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, seat_h - thick, seat_h, "chair", seat),
             box(-w / 2, w / 2, -d / 2, -d / 2 + 0.035, seat_h, back_h, "chair", frame)]
    parts += _legs(w, d, seat_h - thick, 0.035, 0.01, "chair", frame)
    return Item("chair", w, d, back_h, parts)


def _office_chair(ws: Workshop) -> Item:
    w, seat_h, back_h = ws.u(0.45, 0.55), ws.u(0.45, 0.52), ws.u(0.85, 1.1)
    cover = ws.bank.add(FABRIC, ws.pick(("upholstery", "dark")), scale=1.0)
    base = ws.bank.add(METAL, "dark", gloss=0.5, ir_dropout=0.2)
    parts = [box(-w / 2, w / 2, -w / 2, w / 2, seat_h - 0.08, seat_h, "chair", cover),
             box(-w / 2 + 0.03, w / 2 - 0.03, -w / 2, -w / 2 + 0.07, seat_h + 0.05, back_h, "chair", cover),
             cylinder(0, 0, 0.025, 0.08, seat_h - 0.08, "chair", base),
             cylinder(0, 0, 0.3, 0.03, 0.08, "chair", base)]
    return Item("chair", 0.6, 0.6, back_h, parts)


def armchair(ws: Workshop) -> Item:
    w, d, back_h = ws.u(0.7, 0.9), ws.u(0.7, 0.85), ws.u(0.8, 1.0)
    cover = ws.bank.add(FABRIC, "upholstery", scale=1.0)
    arm = ws.u(0.1, 0.18)
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.05, 0.42, "chair", cover),
             box(-w / 2, w / 2, -d / 2, -d / 2 + 0.18, 0.42, back_h, "chair", cover),
             box(-w / 2, -w / 2 + arm, -d / 2, d / 2, 0.42, 0.62, "chair", cover),
             box(w / 2 - arm, w / 2, -d / 2, d / 2, 0.42, 0.62, "chair", cover)]
    return Item("chair", w, d, back_h, parts)


def sofa(ws: Workshop) -> Item:
    w, d = ws.u(1.5, 2.4), ws.u(0.8, 0.95)
    back_h, seat_h, arm = ws.u(0.75, 0.95), ws.u(0.4, 0.45), ws.u(0.12, 0.25)
    leather = ws.chance(0.2)
    cover = (ws.bank.add(PAINT, "dark", gloss=0.35, ir_dropout=0.25) if leather
             else ws.bank.add(FABRIC, "upholstery", scale=1.0))
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.08, seat_h - 0.08, "sofa", cover),
             box(-w / 2, w / 2, -d / 2, -d / 2 + 0.2, seat_h - 0.08, back_h, "sofa", cover),
             box(-w / 2, -w / 2 + arm, -d / 2, d / 2, seat_h - 0.08, 0.62, "sofa", cover),
             box(w / 2 - arm, w / 2, -d / 2, d / 2, seat_h - 0.08, 0.62, "sofa", cover)]
    seats = ws.count(1, 3)
    seat_w = (w - 2 * arm) / seats
    for i in range(seats):
        x0 = -w / 2 + arm + i * seat_w
        parts.append(box(x0 + 0.01, x0 + seat_w - 0.01, -d / 2 + 0.2, d / 2 - 0.02, seat_h - 0.08, seat_h, "sofa", cover))
    for x in ws.rng.uniform(-w / 2 + arm + 0.25, w / 2 - arm - 0.25, ws.count(0, 3)):
        fabric = ws.bank.add(FABRIC, "decor", scale=1.0)
        parts.append(box(x - 0.2, x + 0.2, -d / 2 + 0.2, -d / 2 + 0.33, seat_h, seat_h + ws.u(0.3, 0.42), "pillow", fabric))
    return Item("sofa", w, d, back_h, parts)


def desk(ws: Workshop) -> Item:
    w, d, h = ws.u(1.0, 1.8), ws.u(0.6, 0.8), ws.u(0.72, 0.76)
    body = ws.casework()
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, h - 0.03, h, "desk", body)]
    if ws.chance(0.5):
        parts += [box(-w / 2, -w / 2 + 0.03, -d / 2, d / 2, 0.0, h - 0.03, "desk", body),
                  box(w / 2 - 0.03, w / 2, -d / 2, d / 2, 0.0, h - 0.03, "desk", body),
                  box(-w / 2, w / 2, -d / 2, -d / 2 + 0.02, 0.3, h - 0.03, "desk", body)]
    else:
        parts += _legs(w, d, h - 0.03, 0.04, 0.02, "desk", body)
    if ws.chance(0.5):
        side = ws.pick((-1, 1))
        x0, x1 = sorted((side * (w / 2 - 0.03), side * (w / 2 - 0.45)))
        parts.append(box(x0, x1, -d / 2 + 0.03, d / 2 - 0.02, 0.02, h - 0.03, "desk", body,
                         front=_panel(ws, rows=3, scale=0.42)))
    return Item("desk", w, d, h, parts, surfaces=[_top(w, d, h)])


def bookshelf(ws: Workshop) -> Item:
    w, d, h = ws.u(0.6, 1.2), ws.u(0.25, 0.4), ws.u(1.0, 2.2)
    t = 0.02
    frame = ws.casework()
    books = ws.bank.add(BOOKS, "decor", scale=ws.u(0.02, 0.04))
    parts = [box(-w / 2, -w / 2 + t, -d / 2, d / 2, 0.0, h, "bookshelf", frame),
             box(w / 2 - t, w / 2, -d / 2, d / 2, 0.0, h, "bookshelf", frame),
             box(-w / 2, w / 2, -d / 2, d / 2, h - t, h, "bookshelf", frame),
             box(-w / 2 + t, w / 2 - t, -d / 2 + t, d / 2, 0.0, 0.06, "bookshelf", frame),
             box(-w / 2 + t, w / 2 - t, -d / 2, -d / 2 + 0.01, 0.06, h - t, "bookshelf", frame)]
    shelves = max(2, int(h / 0.33))
    step = (h - 0.06 - t) / shelves
    for i in range(shelves):
        z0 = 0.06 + i * step
        if i > 0:
            parts.append(box(-w / 2 + t, w / 2 - t, -d / 2 + 0.01, d / 2, z0 - t, z0, "bookshelf", frame))
        if ws.chance(0.85):
            span = (w - 2 * t) * ws.u(0.4, 1.0)
            x0 = -w / 2 + t + ws.u(0.0, w - 2 * t - span)
            parts.append(box(x0, x0 + span, -d / 2 + 0.02, -d / 2 + 0.02 + min(d - 0.04, ws.u(0.15, 0.25)),
                             z0, z0 + (step - t) * ws.u(0.55, 0.9), "books", books))
    return Item("bookshelf", w, d, h, parts, surfaces=[_top(w, d, h)] if h < 1.5 else [])


def wall_shelves(ws: Workshop) -> Item:
    w, d = ws.u(0.6, 1.4), ws.u(0.2, 0.3)
    boards, gap = ws.count(2, 4), ws.u(0.3, 0.4)
    body = ws.casework()
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, i * gap, i * gap + 0.025, "shelves", body) for i in range(boards)]
    surfaces = [_top(w, d, i * gap + 0.025, 0.01) for i in range(boards)]
    return Item("shelves", w, d, (boards - 1) * gap + 0.025, parts, surfaces=surfaces, solid=False)


def screen(ws: Workshop, label: str = "television", width: tuple[float, float] = (0.6, 1.3),
           stand: bool = True) -> Item:
    w = ws.u(*width)
    h, t = w * ws.u(0.55, 0.62), ws.u(0.03, 0.07)
    on = ws.chance(0.25)
    body = ws.bank.add(PAINT, "dark", gloss=0.3, ir_dropout=0.3)
    glass = ws.bank.add(SCREEN, "dark", "decor", gloss=0.6, emission=ws.u(0.4, 1.0) if on else 0.0, ir_dropout=0.6)
    lift = 0.1 if stand else 0.0
    parts = [box(-w / 2, w / 2, -t / 2, t / 2, lift, lift + h, label, body, front=glass)]
    if stand:
        parts += [box(-0.03, 0.03, -t / 2, t / 2, 0.02, lift, label, body),
                  box(-w * 0.18, w * 0.18, -0.1, 0.1, 0.0, 0.02, label, body)]
    return Item(label, w, max(t, 0.2 if stand else t), lift + h, parts, solid=stand)


_ROUND_PROPS = {  # radius, height, surface kind, palette
    "bottle": (0.035, 0.26, PAINT, "decor"), "cup": (0.04, 0.1, PORCELAIN, "decor"),
    "vase": (0.07, 0.28, PORCELAIN, "decor"), "bowl": (0.1, 0.07, PORCELAIN, "decor"),
    "toilet paper": (0.055, 0.1, PAINT, "sanitary"),
}
_BOX_PROPS = {  # width, depth and height ranges, surface kind, palette
    "books": ((0.15, 0.25), (0.2, 0.3), (0.04, 0.2), PAINT, "decor"),
    "paper": ((0.2, 0.32), (0.2, 0.32), (0.003, 0.02), PAINT, "sanitary"),
    "box": ((0.15, 0.45), (0.15, 0.4), (0.08, 0.35), PAINT, "cardboard"),
    "toy": ((0.06, 0.2), (0.06, 0.2), (0.05, 0.2), PAINT, "decor"),
    "stuffed animal": ((0.15, 0.3), (0.12, 0.25), (0.15, 0.3), FABRIC, "decor"),
    "basket": ((0.25, 0.4), (0.2, 0.35), (0.1, 0.25), WOOD, "cardboard"),
    "keyboard": ((0.4, 0.46), (0.13, 0.17), (0.015, 0.03), PAINT, "appliance"),
    "clothes": ((0.25, 0.5), (0.2, 0.45), (0.04, 0.12), FABRIC, "decor"),
    "bag": ((0.25, 0.45), (0.12, 0.25), (0.25, 0.45), FABRIC, "decor"),
    "printer": ((0.38, 0.5), (0.3, 0.45), (0.15, 0.3), PAINT, "appliance"),
    "microwave": ((0.45, 0.55), (0.33, 0.42), (0.26, 0.32), PAINT, "appliance"),
    "laptop": ((0.3, 0.38), (0.22, 0.26), (0.02, 0.03), METAL, "appliance"),
}
SMALL_PROPS = tuple(_ROUND_PROPS) + tuple(_BOX_PROPS)


def small_prop(ws: Workshop, kind: str) -> Item:
    """Things that stand on tables, counters, shelves and floors."""
    if kind in _ROUND_PROPS:
        r, h, surface, palette = _ROUND_PROPS[kind]
        r, h = r * ws.u(0.8, 1.2), h * ws.u(0.8, 1.2)
        glassy = kind == "bottle" and ws.chance(0.4)
        material = ws.bank.add(GLASS if glassy else surface, palette, gloss=0.4, ir_dropout=0.6 if glassy else 0.0)
        return Item(kind, 2 * r, 2 * r, h, [cylinder(0, 0, r, 0.0, h, kind, material)], solid=False)
    (w0, w1), (d0, d1), (h0, h1), surface, palette = _BOX_PROPS[kind]
    w, d, h = ws.u(w0, w1), ws.u(d0, d1), ws.u(h0, h1)
    material = ws.bank.add(surface, palette, scale=1.0)
    front = ws.bank.add(SCREEN, "dark", "decor", gloss=0.5, ir_dropout=0.5) if kind in ("laptop", "microwave") else None
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, kind, material, front=front if kind == "microwave" else None)]
    if kind == "laptop":
        parts.append(box(-w / 2, w / 2, -d / 2, -d / 2 + 0.01, h, h + d * 0.9, kind, material, front=front))
        h += d * 0.9
    return Item(kind, w, d, h, parts, surfaces=[_top(w, d, h)] if kind == "box" else [],
                solid=kind in ("box", "bag", "basket"))


def toilet(ws: Workshop) -> Item:
    w, d = ws.u(0.38, 0.46), ws.u(0.65, 0.72)
    porcelain = ws.bank.add(PORCELAIN, "sanitary", gloss=0.5)
    r = ws.u(0.17, 0.2)
    cy = -d / 2 + 0.2 + r
    parts = [box(-w / 2, w / 2, -d / 2, -d / 2 + 0.2, 0.38, ws.u(0.72, 0.82), "toilet", porcelain),
             box(-0.12, 0.12, -d / 2 + 0.1, cy, 0.0, 0.38, "toilet", porcelain),
             cylinder(0, cy, r * 0.75, 0.0, 0.2, "toilet", porcelain),
             cylinder(0, cy, r, 0.2, 0.4, "toilet", porcelain),
             cylinder(0, cy, r + 0.01, 0.4, 0.43, "toilet", ws.bank.add(PORCELAIN, "sanitary", gloss=0.3))]
    return Item("toilet", w, d, 0.8, parts, surfaces=[(-w / 2 + 0.03, w / 2 - 0.03, -d / 2 + 0.03, -d / 2 + 0.17, 0.8)])


def vanity(ws: Workshop) -> Item:
    porcelain = ws.bank.add(PORCELAIN, "sanitary", gloss=0.5)
    faucet = ws.bank.add(METAL, "metal", gloss=0.8, ir_dropout=0.4)
    if ws.chance(0.3):  # pedestal sink
        w, d = ws.u(0.45, 0.6), ws.u(0.38, 0.48)
        parts = [cylinder(0, -0.02, 0.08, 0.0, 0.7, "sink", porcelain),
                 box(-w / 2, w / 2, -d / 2, d / 2, 0.7, 0.86, "sink", porcelain),
                 cylinder(0, -d / 2 + 0.05, 0.015, 0.86, 0.98, "faucet", faucet)]
        return Item("sink", w, d, 0.98, parts)
    w, d, h = ws.u(0.55, 1.2), ws.u(0.45, 0.55), ws.u(0.8, 0.86)
    top = ws.bank.add(PAINT, "stone", gloss=0.3)
    parts = [box(-w / 2, w / 2, -d / 2, d / 2 - 0.02, 0.0, h - 0.03, "cabinet", ws.casework(),
                 front=_panel(ws, scale=w / ws.count(1, 2))),
             box(-w / 2, w / 2, -d / 2, d / 2, h - 0.03, h, "counter", top),
             box(-0.22, 0.22, -d / 2 + 0.12, d / 2 - 0.06, h, h + 0.02, "sink", porcelain),
             cylinder(0, -d / 2 + 0.06, 0.015, h, h + 0.14, "faucet", faucet)]
    return Item("sink", w, d, h + 0.14, parts, surfaces=[(w / 2 - 0.15, w / 2 - 0.02, -d / 2 + 0.03, d / 2 - 0.03, h)] if w > 0.8 else [])


def bathtub(ws: Workshop) -> Item:
    w, d, h, t = ws.u(1.5, 1.75), ws.u(0.7, 0.8), ws.u(0.5, 0.6), ws.u(0.07, 0.1)
    porcelain = ws.bank.add(PORCELAIN, "sanitary", gloss=0.5)
    parts = [box(-w / 2, w / 2, -d / 2, -d / 2 + t, 0.0, h, "bathtub", porcelain),
             box(-w / 2, w / 2, d / 2 - t, d / 2, 0.0, h, "bathtub", porcelain),
             box(-w / 2, -w / 2 + t, -d / 2 + t, d / 2 - t, 0.0, h, "bathtub", porcelain),
             box(w / 2 - t, w / 2, -d / 2 + t, d / 2 - t, 0.0, h, "bathtub", porcelain),
             box(-w / 2 + t, w / 2 - t, -d / 2 + t, d / 2 - t, 0.0, 0.12, "bathtub", porcelain)]
    if ws.chance(0.5):
        cover = ws.u(0.3, 0.9) * w
        x0 = ws.pick((-w / 2, w / 2 - cover))
        curtain = ws.bank.add(FABRIC, ws.pick(("bedding", "decor")), scale=ws.u(0.06, 0.12))
        parts.append(box(x0, x0 + cover, d / 2 - 0.06, d / 2 - 0.03, h + 0.05, ws.u(1.8, 2.0), "shower curtain", curtain))
    return Item("bathtub", w, d, h, parts)


def counter_run(ws: Workshop, length: float, sink: bool, stove: bool, uppers: bool) -> Item:
    """Base cabinets under a worktop with a stove, dishwasher and sink set into the run, and
    optionally wall cabinets above it (a range hood takes their place over the stove)."""
    d, h = ws.u(0.58, 0.65), ws.u(0.88, 0.93)
    top_t = ws.u(0.03, 0.05)
    fronts = _panel(ws, rows=1, scale=ws.u(0.4, 0.6))
    body = ws.casework()
    worktop = ws.bank.add(ws.pick((PAINT, WOOD, TILES)), "stone", "grey", scale=ws.u(0.1, 0.3), gloss=0.25)
    steel = ws.bank.add(METAL, "metal", gloss=0.7, ir_dropout=0.35)
    segments = max(1, int(length / 0.6))
    seg_w = length / segments
    roles = ["cabinet"] * segments
    slots = [int(i) for i in ws.rng.permutation(segments)]
    if stove:
        roles[slots.pop()] = "stove"
    if slots and segments > 3 and ws.chance(0.4):
        roles[slots.pop()] = "dishwasher"
    if slots and sink:
        roles[slots.pop()] = "sink"
    upper_z0, upper_z1 = ws.u(1.42, 1.55), ws.u(2.05, 2.25)
    parts: list[Part] = []
    for i, role in enumerate(roles):
        x0, x1 = -length / 2 + i * seg_w, -length / 2 + (i + 1) * seg_w
        if role in ("cabinet", "sink"):
            parts += [box(x0, x1, -d / 2, d / 2 - 0.02, 0.1, h - top_t, "cabinet", body, front=fronts),
                      box(x0, x1, -d / 2, d / 2 - 0.07, 0.0, 0.1, "cabinet", body),
                      box(x0, x1, -d / 2, d / 2, h - top_t, h, "counter", worktop)]
        else:
            finish = ws.bank.add(ws.pick((METAL, PAINT)), "appliance", gloss=0.4, ir_dropout=0.2)
            door = ws.bank.add(PANEL, "appliance", "dark", scale=seg_w, rows=2 if role == "stove" else 1, gloss=0.3)
            parts.append(box(x0 + 0.005, x1 - 0.005, -d / 2, d / 2, 0.0, h, role, finish, front=door))
        if role == "sink":
            half = min(0.35, seg_w / 2 - 0.02)
            xc = (x0 + x1) / 2
            parts += [box(xc - half, xc + half, -d / 2 + 0.12, d / 2 - 0.08, h, h + 0.01, "sink", steel),
                      cylinder(xc, -d / 2 + 0.06, 0.015, h, h + ws.u(0.2, 0.35), "faucet", steel)]
        if role == "stove":
            hob = ws.bank.add(SCREEN, "dark", "dark", gloss=0.6, ir_dropout=0.3)
            parts.append(box(x0 + 0.02, x1 - 0.02, -d / 2 + 0.02, d / 2 - 0.02, h, h + 0.012, "stove", hob))
            if uppers or ws.chance(0.5):
                parts.append(box(x0 + 0.02, x1 - 0.02, -d / 2, -d / 2 + 0.5, upper_z0 + 0.15, upper_z0 + 0.3,
                                 "range hood", steel))
        elif uppers:
            parts.append(box(x0, x1, -d / 2, -d / 2 + 0.34, upper_z0, upper_z1, "cabinet", body, front=fronts))
    surfaces = []  # worktop stretches between appliances and sink
    start = None
    for i, role in enumerate(roles + ["end"]):
        if role == "cabinet" and start is None:
            start = i
        elif role != "cabinet" and start is not None:
            surfaces.append((-length / 2 + start * seg_w + 0.03, -length / 2 + i * seg_w - 0.03, -d / 2 + 0.05,
                             d / 2 - 0.05, h))
            start = None
    height = upper_z1 if uppers else upper_z0 + 0.3 if "stove" in roles else h
    return Item("counter", length, d, height, parts, surfaces=surfaces)


def refrigerator(ws: Workshop) -> Item:
    w, d, h = ws.u(0.6, 0.9), ws.u(0.65, 0.75), ws.u(1.65, 1.9)
    finish = ws.bank.add(ws.pick((METAL, PAINT)), "appliance", gloss=0.4, ir_dropout=0.15)
    door = ws.bank.add(PANEL, "appliance", "grey", scale=w, rows=2, gloss=0.4)
    return Item("refridgerator", w, d, h, [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, "refridgerator", finish, front=door)])


def appliance_box(ws: Workshop, label: str, size: tuple[float, float, float], elevated: bool = False) -> Item:
    """Box-shaped appliances: range hood, washing machine, air conditioner, radiator."""
    w, d, h = (s * ws.u(0.85, 1.15) for s in size)
    finish = ws.bank.add(ws.pick((METAL, PAINT)), "appliance", gloss=0.35)
    door = ws.bank.add(PANEL if label != "radiator" else SLATS, "appliance", "grey", scale=w, rows=1)
    return Item(label, w, d, h, [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, label, finish, front=door)], solid=not elevated)


def flat_on_wall(ws: Workshop, label: str) -> Item:
    """Thin rectangles hung on walls: pictures, mirrors, boards, towels."""
    w, h, palette, kind, gloss, dropout = {
        "picture": (ws.u(0.25, 1.0), ws.u(0.25, 0.8), "decor", PICTURE, 0.1, 0.0),
        "mirror": (ws.u(0.4, 1.0), ws.u(0.5, 1.0), "grey", MIRROR, 0.8, 0.7),
        "whiteboard": (ws.u(1.2, 3.0), ws.u(0.9, 1.2), "sanitary", PORCELAIN, 0.4, 0.0),
        "blackboard": (ws.u(1.5, 3.5), ws.u(0.9, 1.2), "dark", PAINT, 0.15, 0.1),
        "projector screen": (ws.u(1.5, 2.5), ws.u(1.2, 1.6), "sanitary", PAINT, 0.0, 0.0),
        "towel": (ws.u(0.3, 0.6), ws.u(0.4, 0.8), "bedding", FABRIC, 0.0, 0.0),
    }[label]
    t = ws.u(0.015, 0.04)
    material = ws.bank.add(kind, palette, "decor", scale=1.0, gloss=gloss, ir_dropout=dropout)
    return Item(label, w, t, h, [box(-w / 2, w / 2, -t / 2, t / 2, 0.0, h, label, material)], solid=False)


def curtain(ws: Workshop, width: float, height: float, label: str = "curtain") -> Item:
    t = 0.03 if label == "blinds" else ws.u(0.05, 0.1)
    material = (ws.bank.add(SLATS, ws.pick(("white", "cream", "casework")), scale=ws.u(0.025, 0.05)) if label == "blinds"
                else ws.bank.add(FABRIC, ws.pick(("bedding", "decor", "upholstery")), scale=ws.u(0.08, 0.16)))
    return Item(label, width, t, height, [box(-width / 2, width / 2, -t / 2, t / 2, 0.0, height, label, material)],
                solid=False)


def rug(ws: Workshop, label: str = "rug") -> Item:
    small = label == "floor mat"
    w, d = (ws.u(0.5, 0.9), ws.u(0.4, 0.6)) if small else (ws.u(1.2, 3.0), ws.u(0.9, 2.2))
    material = ws.bank.add(CARPET, ws.pick(("carpet", "decor")), scale=1.0)
    return Item(label, w, d, 0.012, [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, 0.012, label, material)], solid=False)


def plant(ws: Workshop) -> Item:
    r, pot_h = ws.u(0.1, 0.2), ws.u(0.2, 0.4)
    pot = ws.bank.add(ws.pick((PORCELAIN, PAINT)), "decor", gloss=0.2)
    leaves = ws.bank.add(FOLIAGE, "plant", scale=1.0)
    parts = [cylinder(0, 0, r, 0.0, pot_h, "plant", pot)]
    z, leaf_r = pot_h, r * ws.u(1.0, 1.5)
    for _ in range(ws.count(1, 3)):  # tiers narrowing upwards
        leaf_h = ws.u(0.12, 0.35)
        parts.append(cylinder(ws.u(-0.02, 0.02), ws.u(-0.02, 0.02), leaf_r, z, z + leaf_h, "plant", leaves))
        z, leaf_r = z + leaf_h, leaf_r * ws.u(0.5, 0.8)
    size = 2 * r * 1.6
    return Item("plant", size, size, z, parts)


def garbage_bin(ws: Workshop) -> Item:
    r, h = ws.u(0.12, 0.2), ws.u(0.3, 0.6)
    material = ws.bank.add(ws.pick((METAL, PAINT)), ws.pick(("appliance", "decor")), gloss=0.3)
    return Item("garbage bin", 2 * r, 2 * r, h, [cylinder(0, 0, r, 0.0, h, "garbage bin", material)])


def stool(ws: Workshop) -> Item:
    r, h = ws.u(0.15, 0.2), ws.pick((ws.u(0.42, 0.5), ws.u(0.62, 0.76)))
    seat = ws.casework()
    leg = ws.bank.add(METAL, "metal", gloss=0.5)
    parts = [cylinder(0, 0, r, h - 0.04, h, "stool", seat), cylinder(0, 0, 0.025, 0.02, h - 0.04, "stool", leg),
             cylinder(0, 0, r * 0.9, 0.0, 0.02, "stool", leg)]
    return Item("stool", 2 * r, 2 * r, h, parts)


def bench(ws: Workshop, label: str = "bench") -> Item:
    if label == "ottoman":
        w = ws.u(0.5, 0.8)
        cover = ws.bank.add(FABRIC, "upholstery", scale=1.0)
        return Item(label, w, w, 0.42, [box(-w / 2, w / 2, -w / 2, w / 2, 0.0, ws.u(0.38, 0.45), label, cover)])
    w, d, h = ws.u(1.0, 1.6), ws.u(0.32, 0.45), ws.u(0.42, 0.48)
    body = ws.casework()
    parts = [box(-w / 2, w / 2, -d / 2, d / 2, h - 0.05, h, label, body),
             box(-w / 2 + 0.05, -w / 2 + 0.1, -d / 2, d / 2, 0.0, h - 0.05, label, body),
             box(w / 2 - 0.1, w / 2 - 0.05, -d / 2, d / 2, 0.0, h - 0.05, label, body)]
    return Item(label, w, d, h, parts, surfaces=[_top(w, d, h)])


def ceiling_light(ws: Workshop, panel: bool) -> Item:
    glow = ws.bank.add(PORCELAIN, "sanitary", emission=ws.u(1.5, 3.0))
    if panel:
        w, d, h = ws.u(0.55, 0.65), ws.u(0.6, 1.25), 0.04
        parts = [box(-w / 2, w / 2, -d / 2, d / 2, 0.0, h, "light", glow)]
    else:
        w, h = 2 * ws.u(0.12, 0.3), ws.u(0.04, 0.15)
        d = w
        parts = [cylinder(0, 0, w / 2, 0.0, h, "light", glow)]
    return Item("light", w, d, h, parts, solid=False)
