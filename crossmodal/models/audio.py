"""Audio students: waveform in, Features out, so every objective and probe treats them like depth students.

Two families: a log-mel spectrogram front end computed on the fly feeding the 2-D ResNet
student (the spectrogram is an image of time x frequency), and a SoundNet-style 1-D CNN on
the raw waveform. Both take B x C x T (or B x T) float waveforms at 16 kHz.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import Tensor, nn

from crossmodal.constants import SAMPLE_RATE
from crossmodal.models.features import FeatureNetwork, Features
from crossmodal.models.student_registry import register_student
from crossmodal.models.students import ResNetStudent


def _as_batch_of_channels(waveform: Tensor) -> Tensor:
    return waveform.unsqueeze(1) if waveform.dim() == 2 else waveform


class LogMelSpectrogram(nn.Module):
    """B x C x T waveform -> B x C x n_mels x frames log-mel image, normalised per utterance.

    25 ms windows every 10 ms. Per-utterance normalisation (zero mean, unit variance per
    clip and channel) removes recording gain, which otherwise dominates what the network
    sees. Computed in float32 even under autocast: half-precision STFT power overflows.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_mels: int = 64, eps: float = 1e-6) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=512,
            win_length=400,
            hop_length=160,
            f_min=20.0,
            f_max=sample_rate / 2,
            n_mels=n_mels,
        )
        self.eps = eps

    def forward(self, waveform: Tensor) -> Tensor:
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            logmel = torch.log(self.mel(_as_batch_of_channels(waveform).float()) + self.eps)
            mean = logmel.mean(dim=(-2, -1), keepdim=True)
            std = logmel.std(dim=(-2, -1), keepdim=True)
            return (logmel - mean) / (std + 1e-5)


class SpectrogramStudent(FeatureNetwork):
    """Log-mel front end + 2-D ResNet student; one spectrogram channel per waveform channel."""

    def __init__(
        self,
        blocks_per_stage: list[int],
        in_channels: int = 1,
        width: int = 64,
        num_classes: int | None = None,
        n_mels: int = 64,
    ) -> None:
        super().__init__()
        self.sample_rate = SAMPLE_RATE
        self.frontend = LogMelSpectrogram(SAMPLE_RATE, n_mels)
        self.backbone = ResNetStudent(blocks_per_stage, in_channels, width, num_classes)
        self.in_channels = in_channels
        self.feature_dim = self.backbone.feature_dim
        self.map_channels = self.backbone.map_channels
        self.map_strides = self.backbone.map_strides
        self.num_classes = num_classes

    def forward(self, waveform: Tensor) -> Features:
        return self.backbone(self.frontend(waveform))


class RawWaveformStudent(FeatureNetwork):
    """SoundNet-style 1-D CNN on the raw waveform (Aytar, Vondrick & Torralba, 2016), made compact.

    Large strided kernels and pooling bring 16 kHz down to ~16 frames per second at the last stage.
    Stage maps are returned as B x C x 1 x L so map-based objectives see 4-D tensors as for
    2-D students. pooled: B x 8·width.
    """

    def __init__(self, in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> None:
        super().__init__()
        self.sample_rate = SAMPLE_RATE
        self.in_channels = in_channels
        self.map_channels = [width * 2**stage for stage in range(4)]
        self.map_strides = [(1, 128 * 2**stage) for stage in range(4)]
        self.feature_dim = self.map_channels[-1]
        self.num_classes = num_classes
        stem_channels = max(1, width // 4)
        self.stem = nn.Sequential(self._conv(in_channels, stem_channels, 64), nn.MaxPool1d(8, ceil_mode=True))
        self.stages = nn.ModuleList(
            [
                nn.Sequential(self._conv(stem_channels, self.map_channels[0], 32), nn.MaxPool1d(4, ceil_mode=True)),
                self._conv(self.map_channels[0], self.map_channels[1], 16),
                self._conv(self.map_channels[1], self.map_channels[2], 8),
                self._conv(self.map_channels[2], self.map_channels[3], 4),
            ]
        )
        self.head = nn.Linear(self.feature_dim, num_classes) if num_classes is not None else None

    @staticmethod
    def _conv(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel, stride=2, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, waveform: Tensor) -> Features:
        x = self.stem(_as_batch_of_channels(waveform))
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x.unsqueeze(2))
        pooled = x.mean(dim=-1)
        logits = self.head(pooled) if self.head is not None else None
        return Features(pooled=pooled, maps=maps, logits=logits)


@register_student("audio_resnet18", takes="waveform")
def audio_resnet18(in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> SpectrogramStudent:
    """Log-mel (64 bands) ResNet-18 for waveforms at 16 kHz."""
    return SpectrogramStudent([2, 2, 2, 2], in_channels, width, num_classes)


@register_student("audio_resnet10", takes="waveform")
def audio_resnet10(in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> SpectrogramStudent:
    """One block per stage: the quick variant for CPU runs."""
    return SpectrogramStudent([1, 1, 1, 1], in_channels, width, num_classes)


@register_student("audio_soundnet", takes="waveform")
def audio_soundnet(in_channels: int = 1, width: int = 64, num_classes: int | None = None) -> RawWaveformStudent:
    """Raw-waveform 1-D CNN for waveforms at 16 kHz."""
    return RawWaveformStudent(in_channels, width, num_classes)
