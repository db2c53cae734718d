"""What the embedded audio-visual events look and sound like: one video and one sound per (class, seed).

Each event class has a visual signature (shape, motion, texture) and an audio signature
(pitch, timbre, envelope, rhythm) that are driven by the same event times, e.g. a ball's
thud sounds when it touches the floor, so the pairing carries information the way real
footage does. Colours, sizes, speeds, pitches and tempi vary within a class, and every clip
sits on a textured background with drifting distractor shapes and pixel noise. Its sound
is the event plus an off-screen sound of another class, through a random equaliser, over
coloured noise and stray tones, so no single trivial cue gives the label away: an untrained
audio network's features separate the classes far less well than those of a network that
learnt, from the pictures, which sound belongs to the event in view.

The files themselves are written by ``synthetic.av_set`` (generation) and ``synthetic.av_files`` (encoding).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

EVENT_CLASSES = (
    "bouncing_ball",
    "pendulum_bell",
    "spinning_fan",
    "siren_beacon",
    "flapping_bird",
    "falling_rain",
    "pulsing_drum",
    "passing_engine",
)
VIDEO_AUDIO_RATE = 22050
SOUND_SET_RATE = 44100
SPEED_RANGE = (0.7, 1.4)
"""Playback speed of an event instance: motion, tempo and pitch together."""
OFF_SCREEN_LEVEL = (0.2, 0.6)
"""RMS of the off-screen sound of another class relative to the event's (-14 to -4.4 dB)."""
EQ_DB = 12.0
"""Largest gain of each component of the random equaliser."""

Draw = Callable[[np.ndarray, float], None]


# ---------------------------------------------------------------- audio building blocks


def _envelope(t: np.ndarray, onsets: np.ndarray, decay: float, attack: float = 0.003) -> np.ndarray:
    """Sum of attack-decay envelopes starting at `onsets` (seconds); each is cut after 8 decays."""
    env = np.zeros_like(t)
    rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 1.0
    for onset in onsets:
        first = max(0, int(np.ceil((onset - t[0]) * rate)))
        last = min(len(t), first + int((attack + 8 * decay) * rate) + 1)
        dt = t[first:last] - onset
        env[first:last] += np.minimum(dt / attack, 1.0) * np.exp(-dt / decay)
    return env


def _coloured_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Unit-RMS noise with power ~ f^-slope (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    noise = np.fft.irfft(spectrum / freqs ** (slope / 2), n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _band_noise(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    spectrum[(freqs < low) | (freqs > high)] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _harmonics(phase: np.ndarray, weights: list[float]) -> np.ndarray:
    return sum(w * np.sin((k + 1) * phase) for k, w in enumerate(weights))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-9)


def _normalise(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return x * (peak / (np.max(np.abs(x)) + 1e-9))


# ---------------------------------------------------------------- visual building blocks


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated random colour: colour is shared by all classes, so it says nothing about the label."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(150, 256), rng.integers(150, 256)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Smooth random colour field with a fine texture on top."""
    h, w = size
    coarse = rng.uniform(40, 160, size=(rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(
        rng.normal(0, 12, size=(h // 4, w // 4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST
    )
    return np.clip(field + fine, 0, 255).astype(np.uint8)


def _distractors(rng: np.random.Generator, size: tuple[int, int]) -> Draw:
    """Two to four slowly drifting circles and rectangles that belong to no class."""
    h, w = size
    shapes = []
    for _ in range(rng.integers(2, 5)):
        shapes.append(
            (
                rng.integers(0, 2),
                rng.uniform(0, w),
                rng.uniform(0, h),
                rng.uniform(-8, 8),
                rng.uniform(-8, 8),
                rng.uniform(0.04, 0.1) * w,
                _colour(rng),
            )
        )

    def draw(img: np.ndarray, t: float) -> None:
        for kind, x, y, vx, vy, r, colour in shapes:
            cx, cy, r = int((x + vx * t) % w), int((y + vy * t) % h), int(r)
            if kind == 0:
                cv2.circle(img, (cx, cy), r, colour, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy + r // 2), colour, -1)

    return draw


# ---------------------------------------------------------------- event classes
# Each maker returns (draw(img, t), mono waveform at sr) for one random instance of its class.


def _bouncing_ball(rng, size, seconds, sr):
    h, w = size
    period, radius = rng.uniform(0.5, 0.9), rng.uniform(0.06, 0.11) * w
    x, floor, height, phase = (
        rng.uniform(0.25, 0.75) * w,
        rng.uniform(0.75, 0.9) * h,
        rng.uniform(0.35, 0.6) * h,
        rng.uniform(0, 1),
    )
    colour = _colour(rng)

    def draw(img, t):
        u = ((t / period) + phase) % 1.0
        y = floor - radius - height * 4 * u * (1 - u)
        cv2.line(img, (0, int(floor)), (w, int(floor)), (30, 30, 30), 2)
        cv2.circle(img, (int(x), int(y)), int(radius), colour, -1, cv2.LINE_AA)

    t = np.arange(int(seconds * sr)) / sr
    onsets = (np.arange(-1, seconds / period + 1) - phase) * period
    onsets = onsets[(onsets >= 0) & (onsets < seconds)]
    pitch = rng.uniform(70, 150)
    thud = np.sin(2 * np.pi * pitch * t) * _envelope(t, onsets, rng.uniform(0.05, 0.1))
    click = _band_noise(rng, len(t), sr, 1500, 5000) * _envelope(t, onsets, 0.008)
    return draw, thud + 0.4 * click


def _pendulum_bell(rng, size, seconds, sr):
    h, w = size
    period, amplitude, length = rng.uniform(1.0, 1.6), rng.uniform(0.4, 0.8), rng.uniform(0.45, 0.7) * h
    pivot, phase, colour = (int(rng.uniform(0.35, 0.65) * w), int(0.08 * h)), rng.uniform(0, 2 * np.pi), _colour(rng)

    def draw(img, t):
        angle = amplitude * np.sin(2 * np.pi * t / period + phase)
        bob = (int(pivot[0] + length * np.sin(angle)), int(pivot[1] + length * np.cos(angle)))
        cv2.line(img, pivot, bob, (220, 220, 220), 2, cv2.LINE_AA)
        cv2.circle(img, bob, int(0.07 * w), colour, -1, cv2.LINE_AA)

    t = np.arange(int(seconds * sr)) / sr
    # extremes of the swing: sin(...) = +-1
    onsets = ((np.arange(-2, 2 * seconds / period + 2) + 0.5) * np.pi - phase) / (2 * np.pi) * period
    onsets = onsets[(onsets >= 0) & (onsets < seconds)]
    base = rng.uniform(500, 1100)
    partials = sum(
        a * np.sin(2 * np.pi * base * r * t) for r, a in ((1.0, 1.0), (2.76, 0.5), (5.40, 0.25), (8.93, 0.12))
    )
    return draw, partials * _envelope(t, onsets, rng.uniform(0.3, 0.6))


def _spinning_fan(rng, size, seconds, sr):
    h, w = size
    blades, speed = int(rng.integers(2, 5)), rng.uniform(1.0, 3.0) * rng.choice([-1, 1])
    centre, radius, colour = (
        (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h)),
        rng.uniform(0.2, 0.3) * w,
        _colour(rng),
    )

    def draw(img, t):
        for b in range(blades):
            angle = 2 * np.pi * (speed * t + b / blades)
            tip = (int(centre[0] + radius * np.cos(angle)), int(centre[1] + radius * np.sin(angle)))
            cv2.line(img, centre, tip, colour, max(2, int(0.05 * w)), cv2.LINE_AA)
        cv2.circle(img, centre, int(0.04 * w), (40, 40, 40), -1)

    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(90, 220)
    buzz = _harmonics(2 * np.pi * f0 * t, [1.0, 0.6, 0.45, 0.3, 0.2, 0.1])
    blade_rate = abs(speed) * blades
    return draw, buzz * (0.6 + 0.4 * np.sin(2 * np.pi * blade_rate * t))


def _siren_beacon(rng, size, seconds, sr):
    h, w = size
    period, side = rng.uniform(0.6, 1.4), int(rng.uniform(0.12, 0.2) * w)
    corner = (int(rng.uniform(0.1, 0.9) * w - side / 2), int(rng.uniform(0.1, 0.9) * h - side / 2))
    on_colour, off_colour = _colour(rng), (60, 60, 60)

    def draw(img, t):
        lit = np.sin(2 * np.pi * t / period) > 0
        cv2.rectangle(img, corner, (corner[0] + side, corner[1] + side), on_colour if lit else off_colour, -1)
        cv2.rectangle(img, corner, (corner[0] + side, corner[1] + side), (250, 250, 250), 1)

    t = np.arange(int(seconds * sr)) / sr
    low, high = rng.uniform(450, 700), rng.uniform(900, 1400)
    freq = (low + high) / 2 + (high - low) / 2 * np.sin(2 * np.pi * t / period)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return draw, _harmonics(phase, [1.0, 0.3, 0.1])


def _flapping_bird(rng, size, seconds, sr):
    h, w = size
    flap, speed, y0 = (
        rng.uniform(3.0, 6.0),
        rng.uniform(0.15, 0.35) * w * rng.choice([-1, 1]),
        rng.uniform(0.2, 0.6) * h,
    )
    x0, span, colour = rng.uniform(0, w), rng.uniform(0.08, 0.14) * w, _colour(rng)

    def draw(img, t):
        x, y = (x0 + speed * t) % w, y0 + 0.05 * h * np.sin(1.3 * t)
        lift = span * 0.8 * np.sin(2 * np.pi * flap * t)
        wings = np.int32([[x - span, y - lift], [x, y], [x + span, y - lift]])
        cv2.polylines(img, [wings], False, colour, 2, cv2.LINE_AA)

    t = np.arange(int(seconds * sr)) / sr
    calls = np.sort(rng.uniform(0, seconds - 0.3, size=rng.integers(3, 7)))
    onsets = np.concatenate([c + np.arange(rng.integers(2, 5)) * 0.07 for c in calls])
    low = rng.uniform(2000, 3000)
    chirps = np.zeros_like(t)
    for onset in onsets:
        on = (t >= onset) & (t < onset + 0.05)
        dt = t[on] - onset
        chirps[on] += np.sin(2 * np.pi * (low * dt + 0.5 * (low * 1.6 / 0.05) * dt**2)) * np.sin(np.pi * dt / 0.05)
    return draw, chirps


def _falling_rain(rng, size, seconds, sr):
    h, w = size
    drops = int(rng.integers(25, 60))
    xs, phases, speed = rng.uniform(0, w, drops), rng.uniform(0, h, drops), rng.uniform(0.8, 1.6) * h
    length, colour = rng.uniform(0.05, 0.1) * h, _colour(rng)

    def draw(img, t):
        ys = (phases + speed * t) % h
        for x, y in zip(xs, ys, strict=True):
            cv2.line(img, (int(x), int(y)), (int(x - 0.2 * length), int(y + length)), colour, 1, cv2.LINE_AA)

    n = int(seconds * sr)
    t = np.arange(n) / sr
    hiss = _band_noise(rng, n, sr, rng.uniform(800, 2000), rng.uniform(5000, 9000))
    ticks = _band_noise(rng, n, sr, 3000, 8000) * _envelope(
        t, rng.uniform(0, seconds, size=int(drops * seconds)), 0.004
    )
    return draw, 0.6 * hiss + ticks


def _pulsing_drum(rng, size, seconds, sr):
    h, w = size
    beat, side = 60.0 / rng.uniform(90, 180), rng.uniform(0.12, 0.2) * w
    centre, colour, offset = (
        (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h)),
        _colour(rng),
        rng.uniform(0, 0.3),
    )

    def draw(img, t):
        since = (t - offset) % beat if t >= offset else 1.0
        half = int(side * (1 + 0.6 * np.exp(-since / 0.08)) / 2)
        cv2.rectangle(img, (centre[0] - half, centre[1] - half), (centre[0] + half, centre[1] + half), colour, -1)
        cv2.rectangle(img, (centre[0] - half, centre[1] - half), (centre[0] + half, centre[1] + half), (20, 20, 20), 2)

    t = np.arange(int(seconds * sr)) / sr
    onsets = offset + np.arange(0, seconds / beat) * beat
    kick = np.sin(2 * np.pi * rng.uniform(50, 80) * t) * _envelope(t, onsets[::2], 0.12)
    snare = _band_noise(rng, len(t), sr, 1000, 6000) * _envelope(t, onsets[1::2], 0.06)
    return draw, kick + 0.7 * snare


def _passing_engine(rng, size, seconds, sr):
    h, w = size
    body_w, body_h = rng.uniform(0.25, 0.4) * w, rng.uniform(0.1, 0.15) * h
    direction, y, colour = rng.choice([-1, 1]), rng.uniform(0.5, 0.85) * h, _colour(rng)
    speed = (w + body_w) / seconds * rng.uniform(0.8, 1.2) * direction
    x0 = -body_w / 2 if direction > 0 else w + body_w / 2

    def draw(img, t):
        x = x0 + speed * t
        top_left = (int(x - body_w / 2), int(y - body_h))
        cv2.rectangle(img, top_left, (int(x + body_w / 2), int(y)), colour, -1)
        for wheel in (-0.3, 0.3):
            cv2.circle(img, (int(x + wheel * body_w), int(y)), int(body_h * 0.4), (20, 20, 20), -1)

    t = np.arange(int(seconds * sr)) / sr
    closeness = np.exp(-((((x0 + speed * t) - w / 2) / (0.5 * w)) ** 2))
    f0 = rng.uniform(35, 80) * (1 + 0.06 * np.tanh(-(x0 + speed * t - w / 2) / (0.2 * w)) * direction)
    rumble = _harmonics(2 * np.pi * np.cumsum(f0) / sr, [1.0, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1])
    noise = _band_noise(rng, len(t), sr, 60, 1200)
    return draw, (rumble + 0.5 * noise) * (0.2 + closeness)


_MAKERS = (
    _bouncing_ball,
    _pendulum_bell,
    _spinning_fan,
    _siren_beacon,
    _flapping_bird,
    _falling_rain,
    _pulsing_drum,
    _passing_engine,
)


def _event_instance(
    class_id: int, rng: np.random.Generator, size: tuple[int, int], seconds: float, sr: int
) -> tuple[Draw, np.ndarray]:
    """One instance of a class played at a random speed (SPEED_RANGE, log-uniform).

    Motion, rhythm and pitch all scale with the speed, so sight and sound stay in step while
    the pitch and tempo ranges of the classes overlap.
    """
    low, high = SPEED_RANGE
    speed = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    draw, event = _MAKERS[class_id](rng, size, seconds * speed, sr)
    samples = int(seconds * sr)
    event = np.interp(np.arange(samples) * speed, np.arange(len(event)), event)
    return (lambda img, t: draw(img, t * speed)), event


def _equalise(rng: np.random.Generator, x: np.ndarray, sr: int) -> np.ndarray:
    """A random smooth gain curve over log-frequency (a tilt and three bumps, each within +-EQ_DB), as rooms and microphones colour sound."""
    db = EQ_DB
    spectrum = np.fft.rfft(x)
    octaves = np.log2(np.maximum(np.fft.rfftfreq(len(x), 1.0 / sr), 20.0) / 1000.0)
    gain = rng.uniform(-db, db) * octaves / 4
    for _ in range(3):
        gain += rng.uniform(-db, db) * np.exp(-0.5 * ((octaves - rng.uniform(-4, 3)) / rng.uniform(0.4, 1.2)) ** 2)
    return np.fft.irfft(spectrum * 10 ** (gain / 20), len(x))


def _soundscape(rng: np.random.Generator, event: np.ndarray, class_id: int, sr: int, channels: int) -> np.ndarray:
    """Event plus an off-screen sound of another class, equalised, over coloured noise and stray tones; C x S in [-1, 1].

    The off-screen sound plays at OFF_SCREEN_LEVEL of the event's RMS: the event always
    dominates, so the label stays well defined, but a network must tell the two apart.
    """
    n = len(event)
    t = np.arange(n) / sr
    other = (class_id + rng.integers(1, len(_MAKERS))) % len(_MAKERS)
    _, off_screen = _event_instance(int(other), rng, (128, 128), n / sr, sr)
    mix = event / _rms(event) + rng.uniform(*OFF_SCREEN_LEVEL) * off_screen / _rms(off_screen)
    mix = _equalise(rng, mix, sr)
    out = np.zeros((channels, n))
    gains = rng.uniform(0.6, 1.0, size=channels)
    for c in range(channels):
        noise = 0.05 * rng.uniform(0.3, 1.5) * _coloured_noise(rng, n, rng.uniform(0.5, 1.5))
        out[c] = gains[c] * _normalise(mix, rng.uniform(0.3, 0.6)) + noise
    for _ in range(rng.integers(0, 3)):
        onset, length, freq = rng.uniform(0, n / sr), rng.uniform(0.1, 0.5), rng.uniform(200, 3000)
        on = (t >= onset) & (t < onset + length)
        out[:, on] += rng.uniform(0.02, 0.08) * np.sin(2 * np.pi * freq * t[on]) * np.hanning(on.sum())
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def render_event_video(
    class_id: int, seed: int | list[int], size: tuple[int, int], seconds: float, fps: int
) -> tuple[np.ndarray, np.ndarray]:
    """One random instance of an event class: (N x H x W x 3 uint8 frames, 2 x S float32 stereo audio at 22.05 kHz)."""
    rng = np.random.default_rng(seed)
    draw_event, event = _event_instance(class_id, rng, size, seconds, VIDEO_AUDIO_RATE)
    background, draw_distractors = _background(rng, size), _distractors(rng, size)
    noise_level = rng.uniform(3, 10)
    frames = np.empty((round(seconds * fps), *size, 3), np.uint8)
    for i in range(len(frames)):
        t = i / fps
        img = background.copy()
        draw_distractors(img, t)
        draw_event(img, t)
        noise = rng.standard_normal(img.shape, dtype=np.float32) * noise_level
        frames[i] = np.clip(img + noise, 0, 255)
    return frames, _soundscape(rng, event, class_id, VIDEO_AUDIO_RATE, channels=2)


def render_event_sound(class_id: int, seed: int | list[int], seconds: float) -> np.ndarray:
    """One random instance of an event class's sound: mono float32 at 44.1 kHz, as ESC-50 clips are."""
    rng = np.random.default_rng(seed)
    _, event = _event_instance(class_id, rng, (128, 128), seconds, SOUND_SET_RATE)
    return _soundscape(rng, event, class_id, SOUND_SET_RATE, channels=1)[0]


