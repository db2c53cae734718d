"""Raw NYU label ids (1-based index into the 894 class names) for every surface the rooms draw.

Ids are looked up by name once, so a misspelt or missing name fails at import rather than
silently producing wrong labels.
"""
from __future__ import annotations

from crossmodal.data.nyu_meta import load_meta

SURFACE_NAMES = (
    # room structure
    "wall", "floor", "ceiling", "window", "door", "door frame", "light", "column",
    # furniture
    "bed", "night stand", "dresser", "wardrobe", "table", "coffee table", "chair", "stool",
    "sofa", "cabinet", "desk", "bookshelf", "shelves", "counter", "refridgerator", "stove",
    "dishwasher", "range hood", "toilet", "sink", "bathtub", "tv stand", "bench", "ottoman",
    "washing machine", "radiator",
    # things on walls
    "picture", "mirror", "whiteboard", "blackboard", "projector screen", "curtain", "blinds",
    "shower curtain", "towel", "clock", "air conditioner",
    # props
    "pillow", "blanket", "lamp", "television", "monitor", "keyboard", "laptop", "printer",
    "books", "paper", "box", "bag", "clothes", "plant", "garbage bin", "rug", "floor mat",
    "microwave", "bottle", "bowl", "cup", "vase", "faucet", "toilet paper", "toy",
    "stuffed animal", "basket",
)


def _lookup(names: tuple[str, ...]) -> dict[str, int]:
    classes = load_meta().raw_class_names
    missing = [name for name in names if name not in classes]
    if missing:
        raise KeyError(f"not NYU raw class names: {missing}")
    return {name: classes.index(name) + 1 for name in names}


RAW_IDS: dict[str, int] = _lookup(SURFACE_NAMES)
