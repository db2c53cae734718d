"""The data-set catalog with every built-in format registered: look data sets up here by name.

Importing this module imports each format module of the package, which registers its kinds in
``DATA_SETS``; a format defined elsewhere (a plug-in, a test) registers itself the same way.
"""
from __future__ import annotations

from crossmodal.data import av_sets, esc50, nyu_raw_set, rgbd_sets, sunrgbd_set  # noqa: F401  (each registers its kinds)
from crossmodal.data.kinds import DATA_SETS, DataSetKind, data_options, register_data_set


def data_sets_of(modality: str, default: str | None = None) -> tuple[DataSetKind, ...]:
    """The catalog's kinds that pair RGB with ``modality`` for training, ``default`` first, the others in registration order."""
    kinds = [
        DATA_SETS.get(name) for name in DATA_SETS.registered()
        if DATA_SETS.get(name).modality == modality and DATA_SETS.get(name).open is not None
    ]
    return tuple(sorted(kinds, key=lambda kind: kind.name != default))


__all__ = ["DATA_SETS", "DataSetKind", "data_options", "data_sets_of", "register_data_set"]
