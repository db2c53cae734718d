"""Decoding real video files with PyAV: audio format, down-mix, resampling, frame timing, bad files."""

from __future__ import annotations

import av
import av.logging
import numpy as np
import pytest

from crossmodal.constants import SAMPLE_RATE
from crossmodal.data.synthetic.av_files import write_av_file
from crossmodal.data.video import decode_audio, frames_at, list_videos, sample_times
from crossmodal.errors import InputError


def _tone(freq: float, seconds: float, rate: int, amplitude: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def _amplitude_at(signal: np.ndarray, freq: float, rate: int) -> float:
    """Amplitude of the sinusoid at `freq` (Hann-windowed DFT, so neighbouring tones do not leak)."""
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) * 2 / window.sum()
    bin_ = round(freq * len(signal) / rate)
    return float(spectrum[bin_ - 2 : bin_ + 3].max())


@pytest.fixture(scope="module")
def stereo_48k(tmp_path_factory):
    """2 s, 48 kHz stereo AAC: 440 Hz at 0.4 on the left, 1 kHz at 0.2 on the right."""
    path = tmp_path_factory.mktemp("video") / "stereo.mkv"
    audio = np.stack([_tone(440, 2.0, 48000, 0.4), _tone(1000, 2.0, 48000, 0.2)])
    frames = np.zeros((20, 32, 32, 3), np.uint8)
    write_av_file(path, frames, 10, audio, 48000)
    return path


def test_audio_is_mono_int16_at_16khz_with_the_source_duration(stereo_48k):
    decoded = decode_audio(stereo_48k)
    assert decoded.samples.dtype == np.int16 and decoded.samples.ndim == 1
    # AAC pads the last frame: at most one 1024-sample frame (341 samples at 16 kHz) extra
    assert 2 * SAMPLE_RATE <= len(decoded.samples) <= 2 * SAMPLE_RATE + 400
    assert decoded.start == pytest.approx(0.0, abs=1e-3)


def test_stereo_is_downmixed_to_the_mean_and_resampled_keeping_pitch(stereo_48k):
    decoded = decode_audio(stereo_48k)
    middle = decoded.samples[4000:28000].astype(np.float64) / 32768
    # mean of the channels: each tone at half its channel amplitude (a sum at 0.707 would give 0.28 / 0.14)
    assert _amplitude_at(middle, 440, SAMPLE_RATE) == pytest.approx(0.2, rel=0.08)
    assert _amplitude_at(middle, 1000, SAMPLE_RATE) == pytest.approx(0.1, rel=0.08)
    assert _amplitude_at(middle, 700, SAMPLE_RATE) < 0.01


def test_sample_times_are_multiples_of_the_period_with_whole_windows_inside():
    times = sample_times(start=0.03, end=3.0, fps=2.0, clip_seconds=1.0)
    np.testing.assert_allclose(times, [1.0, 1.5, 2.0, 2.5])
    assert len(sample_times(start=0.0, end=0.9, fps=2.0, clip_seconds=1.0)) == 0


def test_frames_at_returns_the_frame_shown_at_each_time_resized(tmp_path):
    levels = np.arange(10) * 25
    frames = np.broadcast_to(levels[:, None, None, None], (10, 48, 64, 3)).astype(np.uint8)
    path = tmp_path / "ramp.mp4"
    write_av_file(path, frames, 10, None, 16000)
    times = np.array([0.0, 0.15, 0.25, 0.95, 1.5])
    got = list(frames_at(path, times, (16, 16)))
    assert [k for k, _ in got] == [0, 1, 2, 3]  # 1.5 s is past the last frame (shown 0.9-1.0 s)
    assert all(frame.shape == (16, 16, 3) and frame.dtype == np.uint8 for _, frame in got)
    np.testing.assert_allclose([frame.mean() for _, frame in got], [0, 25, 50, 225], atol=4)


def test_file_without_audio_and_corrupt_file_raise_input_error_naming_the_file(tmp_path):
    silent = tmp_path / "silent.mp4"
    write_av_file(silent, np.zeros((5, 16, 16, 3), np.uint8), 5, None, 16000)
    with pytest.raises(InputError, match="silent.mp4 has no audio track"):
        decode_audio(silent)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InputError, match="corrupt.mp4 cannot be decoded"):
        decode_audio(corrupt)


def test_list_videos_finds_known_extensions_recursively(tmp_path):
    for name in ("a.mp4", "sub/b.MKV", "c.webm", "notes.txt", "d.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.as_posix() for p in list_videos(tmp_path)] == ["a.mp4", "c.webm", "sub/b.MKV"]


def test_every_pyav_encode_and_decode_runs_without_the_python_log_callback(tmp_path, monkeypatch):
    """torchvision installs PyAV's log callback, which can deadlock frame-threaded decoding; ours runs without it."""
    levels = []
    real_open = av.open

    def recording_open(*args, **kwargs):
        levels.append(av.logging.get_level())
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", recording_open)
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        path = tmp_path / "clip.mp4"
        write_av_file(path, np.zeros((10, 16, 16, 3), np.uint8), 10, np.zeros((1, 16000), np.float32), 16000)
        decode_audio(path)
        list(frames_at(path, np.array([0.0, 0.5]), (8, 8)))
        assert levels == [None, None, None]
        assert av.logging.get_level() == av.logging.ERROR
    finally:
        av.logging.set_level(previous)
