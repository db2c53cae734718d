"""A wrapper that turns a network into a fixed function, whatever the training loop around it does."""
from __future__ import annotations

from typing import TypeVar

import torch
from torch import Tensor, nn

from crossmodal.models.features import FeatureNetwork, Features

Network = TypeVar("Network", bound=nn.Module)


def freeze(network: Network) -> Network:
    """No gradients and eval mode, in place: what every measured or teaching network needs."""
    network.requires_grad_(False)
    return network.eval()


class Frozen(FeatureNetwork):
    """Runs a Features-returning network frozen: always in eval mode, no trainable parameters, no graph.

    Distillation trains everything under one parent module; calling ``parent.train()``
    must not switch the teacher's BatchNorm layers to batch statistics or update their
    running averages, and an optimiser built from ``parent.parameters()`` must find
    nothing to change here.  Carries the network's ``feature_dim``, ``map_channels``,
    ``map_strides`` and ``num_classes`` so callers read them from the wrapper.
    """

    def __init__(self, network: FeatureNetwork) -> None:
        super().__init__()
        self.network = freeze(network)
        self.feature_dim = network.feature_dim
        self.map_channels = list(network.map_channels)
        self.map_strides = list(network.map_strides)
        self.num_classes = network.num_classes
        self.train(False)

    def train(self, mode: bool = True) -> Frozen:
        """Ignores ``mode``: a frozen network stays in eval mode."""
        return super().train(False)

    def forward(self, x: Tensor) -> Features:
        with torch.no_grad():
            return self.network(x)
