"""Any timm architecture as a frozen teacher, from a local weights file: ``timm:<arch>:/path/weights.safetensors``.

The network is built without weights (``pretrained=False``: nothing is downloaded), then the file
is loaded strictly, so a file for another architecture is a clear error. Features come from
timm's own API: ``forward_intermediates`` gives the last four entries of ``feature_info`` as
NCHW maps (a ViT's tokens reshaped to its patch grid), ``forward_head(pre_logits=True)`` the
pooled features and ``forward_head`` the logits. Input arrives ImageNet-normalised (the
crossmodal contract) and is converted to the normalisation the architecture's weights expect.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import Tensor

from crossmodal.constants import IMAGENET_MEAN, IMAGENET_STD
from crossmodal.errors import InputError
from crossmodal.models.features import FeatureNetwork, Features

STAGES = 4
"""Stage maps a timm teacher returns: the deepest four of its feature_info, like every other network here."""


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A state dict from a .safetensors file or a torch file (read with weights_only)."""
    if not path.is_file():
        raise InputError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # both readers raise many types for unreadable files
        raise InputError(f"weights file {path} is not a readable safetensors or torch file ({type(error).__name__})") from None
    if not isinstance(state, dict):
        raise InputError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    return state


def create_network(arch: str, num_classes: int = 1000) -> Any:
    """The architecture without weights; ViTs and the like take any input size (Any: timm's attributes are untyped)."""
    try:
        # Dynamic image size lets ViTs take the non-square inputs the students' data come at.
        return timm.create_model(arch, pretrained=False, num_classes=num_classes, dynamic_img_size=True)
    except TypeError:
        return timm.create_model(arch, pretrained=False, num_classes=num_classes)


class TimmTeacher(FeatureNetwork):
    """A timm network returning Features; ``feature_dim``, ``map_channels``, ``map_strides`` from its feature_info."""

    input_scale: Tensor
    input_shift: Tensor

    def __init__(self, arch: str, state_dict: dict[str, Tensor], source: Path) -> None:
        super().__init__()
        if arch not in timm.list_models():
            raise InputError(f"teacher 'timm:{arch}': timm has no architecture {arch!r} (see timm.list_models())")
        pretrained = timm.get_pretrained_cfg(arch)
        classifier = pretrained.classifier if pretrained else None
        weight = state_dict.get(f"{classifier}.weight") if classifier else None
        self.num_classes = int(weight.shape[0]) if weight is not None else 0
        self.net = create_network(arch, self.num_classes)
        try:
            self.net.load_state_dict(state_dict, strict=True)
        except RuntimeError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = (lines[1] if len(lines) > 1 else lines[0])[:240]
            raise InputError(f"weights file {source} does not fit timm architecture {arch!r}: {reason}") from None
        info = self.net.feature_info[-STAGES:]
        self.indices = [len(self.net.feature_info) - len(info) + k for k in range(len(info))]
        self.map_channels = [int(entry["num_chs"]) for entry in info]
        self.map_strides = [(int(entry["reduction"]), int(entry["reduction"])) for entry in info]
        self.feature_dim = int(getattr(self.net, "head_hidden_size", None) or self.net.num_features)
        config = self.net.pretrained_cfg
        mean = torch.tensor(config.get("mean", IMAGENET_MEAN)).view(1, 3, 1, 1)
        std = torch.tensor(config.get("std", IMAGENET_STD)).view(1, 3, 1, 1)
        # x_weights = (x_imagenet * std_imagenet + mean_imagenet - mean) / std, as one affine map.
        self.register_buffer("input_scale", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) / std, persistent=False)
        self.register_buffer("input_shift", (torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) - mean) / std, persistent=False)

    def forward(self, x: Tensor) -> Features:
        final, maps = self.net.forward_intermediates(x * self.input_scale + self.input_shift, indices=self.indices, output_fmt="NCHW")
        pooled = self.net.forward_head(final, pre_logits=True)
        logits = self.net.forward_head(final) if self.num_classes else None
        return Features(pooled=pooled, maps=list(maps), logits=logits)


def build_timm_teacher(arch_and_path: str) -> FeatureNetwork:
    """``<arch>:/path/weights`` -> the (unfrozen) timm network; the caller freezes it."""
    arch, _, path = arch_and_path.partition(":")
    if not arch or not path:
        raise InputError(f"teacher 'timm:{arch_and_path}' needs an architecture and a weights file: 'timm:<arch>:/path/weights.safetensors'")
    source = Path(path).expanduser()
    return TimmTeacher(arch, read_state_dict(source), source)
