"""Encoding frames and a waveform into a real video file with sound (H.264 or MPEG-4 part 2, AAC), as cameras write them."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from crossmodal.data.video import ffmpeg_log_callback_off

_AUDIO_FRAME = 1024


def _video_codec() -> str:
    """H.264 when the bundled FFmpeg has libx264, else MPEG-4 part 2, which every build has."""
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except av.codec.codec.UnknownCodecError:
        return "mpeg4"


@ffmpeg_log_callback_off()
def write_av_file(path: str | Path, frames: np.ndarray, fps: int, audio: np.ndarray | None, sample_rate: int) -> None:
    """Mux N x H x W x 3 uint8 frames and a C x S float waveform in [-1, 1] (or None: no audio) into `path`.

    Video is H.264 (MPEG-4 part 2 without libx264), audio AAC; the container follows the
    file suffix (.mp4, .mkv, .mov, .avi).
    """
    height, width = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        video = container.add_stream(_video_codec(), rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.thread_count = 1
        if video.codec_context.name == "libx264":
            video.codec_context.options = {"preset": "ultrafast", "crf": "20"}
        sound = None
        if audio is not None:
            layout = "stereo" if audio.shape[0] == 2 else "mono"
            sound = container.add_stream("aac", rate=sample_rate, layout=layout)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            waveform = np.clip(audio, -1.0, 1.0).astype(np.float32)
            for start in range(0, waveform.shape[1], _AUDIO_FRAME):
                chunk = np.ascontiguousarray(waveform[:, start : start + _AUDIO_FRAME])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=sound.layout.name)
                frame.sample_rate, frame.pts = sample_rate, start
                frame.time_base = Fraction(1, sample_rate)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
