"""crossmodal: cross-modal contrastive representation distillation (RGB teacher -> depth/audio student)."""

__version__ = "0.1.0"
