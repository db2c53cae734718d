"""The protocol registry with every built-in protocol registered: look protocols up here by name.

Importing this module imports each protocol module of the package, which registers itself in
``PROTOCOLS``; a protocol defined elsewhere (a plug-in, a test) registers itself the same way.
"""
from __future__ import annotations

from crossmodal.eval import audio_probe, label_efficiency, scene_knn, scene_probe, segmentation, sound_label_efficiency, sound_svm  # noqa: F401  (each registers its protocols)
from crossmodal.eval.protocol import PROTOCOLS, EvalProtocol, register_protocol

__all__ = ["PROTOCOLS", "EvalProtocol", "register_protocol"]
