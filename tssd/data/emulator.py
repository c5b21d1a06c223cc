"""A DVS (event camera) emulator: still images to event streams by simulated saccades.

The quick profile has no event camera data, so it makes some: each image is upsampled onto a small
sensor and moved along a triangular saccade path (three straight saccades, as the N-MNIST
recordings moved the sensor). Every pixel tracks its log intensity ``L = log(eps + I)``; whenever
``L`` has moved by the contrast threshold ``C`` from the pixel's reference level, the pixel emits
an event (ON, ``p = 1``, for an increase; OFF, ``p = 0``, for a decrease) and its reference moves
by ``C``. Between two rendering steps the log intensity is taken as linear in time, so each
threshold crossing gets its own interpolated timestamp (integer microseconds). A fast change
crossing several thresholds emits several events, as a real pixel does. Not modelled: refractory
period, bandwidth limits, pixel latency.

Sensor noise is off by default: ``threshold_sigma`` adds fixed per-pixel threshold mismatch (one
draw per sensor, shared by every recording), ``noise_rate_hz`` adds background-activity events
(Poisson per pixel, uniform times, random polarity) drawn per recording from ``(seed, index)``.

Everything is vectorised over the whole image set: the 1,797 digits take well under a second.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LEVEL_EPS = 1e-9
"""Relative margin under which a threshold level counts as reached (float rounding only)."""

EMULATOR_VERSION = 1
"""Bumped whenever the emulator's output changes for the same parameters (part of cache keys)."""


@dataclass(frozen=True)
class EmulatorParams:
    """Parameters of :func:`emulate` (``data.options`` of the ``digits_dvs`` dataset)."""

    sensor: int = 16
    """Sensor width and height in pixels (also the frame size before any ``data.size`` resize)."""
    digit_px: int = 12
    """Size in pixels of the upsampled image on the sensor (centred when at rest)."""
    saccade_px: float = 2.0
    """Side of the triangular saccade path in sensor pixels."""
    saccades: int = 3
    """Number of saccades (straight moves along the triangle's sides, repeating after three)."""
    saccade_us: int = 100_000
    """Duration of one saccade in microseconds."""
    steps: int = 8
    """Rendering steps per saccade; crossings between steps get interpolated timestamps."""
    threshold: float = 0.2
    """Contrast threshold C on the log intensity."""
    threshold_sigma: float = 0.0
    """Standard deviation of the per-pixel threshold mismatch (0 = ideal sensor)."""
    log_eps: float = 0.1
    """Offset inside the logarithm, ``L = log(log_eps + I)`` with I in [0, 1]."""
    noise_rate_hz: float = 0.0
    """Background-activity events per pixel per second (0 = no noise)."""
    seed: int = 0
    """Seed of the noise and mismatch draws."""

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range parameter."""
        checks = [
            ("sensor", self.sensor >= 2, ">= 2"),
            ("digit_px", 1 <= self.digit_px <= self.sensor, f"in [1, sensor={self.sensor}]"),
            ("saccade_px", self.saccade_px >= 0, ">= 0"),
            ("saccades", self.saccades >= 1, ">= 1"),
            ("saccade_us", self.saccade_us >= 1, ">= 1"),
            ("steps", self.steps >= 1, ">= 1"),
            ("threshold", self.threshold > 0, "> 0"),
            ("threshold_sigma", self.threshold_sigma >= 0, ">= 0"),
            ("log_eps", self.log_eps > 0, "> 0"),
            ("noise_rate_hz", self.noise_rate_hz >= 0, ">= 0"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise ValueError(
                    f"emulator parameter {name}={getattr(self, name)!r}: expected {want}"
                )

    def as_dict(self) -> dict:
        """Plain dict (for cache keys and result metadata)."""
        return asdict(self)

    @property
    def duration_us(self) -> int:
        """Length of one recording in microseconds."""
        return self.saccades * self.saccade_us


def saccade_offsets(params: EmulatorParams) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (int64 microseconds) and (dx, dy) offsets of every rendering step, start included.

    The path runs along an equilateral triangle centred on the rest position, so the three
    saccades move edges in three directions 120 degrees apart.
    """
    a = params.saccade_px
    corners = np.array([[0.0, 0.0], [a, 0.0], [a / 2, a * math.sqrt(3) / 2]])
    corners -= corners.mean(axis=0)
    pts, times = [corners[0]], [0]
    for k in range(params.saccades):
        start, stop = corners[k % 3], corners[(k + 1) % 3]
        for j in range(1, params.steps + 1):
            # The corner itself at j == steps (no rounding), so a closed path ends where it began.
            pts.append(stop if j == params.steps else start + (stop - start) * j / params.steps)
            times.append(round((k + j / params.steps) * params.saccade_us))
    return np.asarray(times, np.int64), np.asarray(pts)


def _resample_matrix(src: int, params: EmulatorParams, shift: float) -> np.ndarray:
    """``[sensor, src]`` bilinear weights placing a ``src``-pixel axis, upsampled to ``digit_px``
    and shifted by ``shift`` pixels, on the sensor (zero outside the image)."""
    origin = (params.sensor - params.digit_px) / 2 + shift
    u = np.arange(params.sensor) + 0.5
    s = (u - origin) * (src / params.digit_px) - 0.5
    return np.clip(1.0 - np.abs(s[:, None] - np.arange(src)[None, :]), 0.0, None)


def render(images: np.ndarray, params: EmulatorParams, dx: float, dy: float) -> np.ndarray:
    """Images ``[N, h, w]`` in [0, 1] as seen by the sensor at offset (dx, dy): ``[N, S, S]``."""
    ry = _resample_matrix(images.shape[1], params, dy)
    rx = _resample_matrix(images.shape[2], params, dx)
    return np.clip(ry @ images @ rx.T, 0.0, 1.0)


def emulate(
    images: np.ndarray, params: EmulatorParams | None = None, indices: np.ndarray | None = None
) -> list[dict[str, np.ndarray]]:
    """Event streams of still images.

    Args:
        images: ``[N, h, w]`` intensities in [0, 1].
        params: emulator parameters (defaults when None).
        indices: a stable id per image (seeds its noise draw); defaults to ``arange(N)``.

    Returns:
        One dict per image with ``t`` (int64 microseconds, non-decreasing), ``x``, ``y``
        (uint16, in [0, sensor)) and ``p`` (uint8, 1 = ON).
    """
    params = params or EmulatorParams()
    params.validate()
    images = np.asarray(images, np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must be [N, h, w], got shape {images.shape}")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("image intensities must lie in [0, 1]")
    n, s = len(images), params.sensor
    indices = np.arange(n) if indices is None else np.asarray(indices)
    times, offsets = saccade_offsets(params)
    thr = np.full((s, s), params.threshold)
    if params.threshold_sigma > 0:
        mismatch = np.random.default_rng([params.seed, 2**31 - 1]).normal(
            0.0, params.threshold_sigma, (s, s)
        )
        # A floor keeps every threshold positive however wide the mismatch.
        thr = np.maximum(params.threshold + mismatch, 0.01 * params.threshold)

    def log_frame(k: int) -> np.ndarray:
        return np.log(params.log_eps + render(images, params, *offsets[k]))

    prev = log_frame(0)
    ref = prev.copy()  # a pixel's reference level starts at what it sees at t = 0
    parts = []
    for k in range(1, len(times)):
        cur = log_frame(k)
        parts.append(threshold_crossings(prev, cur, ref, thr, int(times[k - 1]), int(times[k])))
        prev = cur
    sample, t, x, y, p = (np.concatenate(a) for a in zip(*parts, strict=True))
    if params.noise_rate_hz > 0:
        noise = [_noise(params, int(i)) for i in indices]
        sample = np.concatenate([sample] + [np.full(len(v[0]), i) for i, v in enumerate(noise)])
        t = np.concatenate([t] + [v[0] for v in noise])
        x = np.concatenate([x] + [v[1] for v in noise])
        y = np.concatenate([y] + [v[2] for v in noise])
        p = np.concatenate([p] + [v[3] for v in noise])
    # Sort by (sample, time); the stable sort keeps ties in generation order (deterministic).
    order = np.argsort(sample * (params.duration_us + 1) + t, kind="stable")
    sample, t, x, y, p = sample[order], t[order], x[order], y[order], p[order]
    bounds = np.searchsorted(sample, np.arange(n + 1))
    return [
        {
            "t": t[a:b].astype(np.int64),
            "x": x[a:b].astype(np.uint16),
            "y": y[a:b].astype(np.uint16),
            "p": p[a:b].astype(np.uint8),
        }
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def threshold_crossings(
    prev: np.ndarray, cur: np.ndarray, ref: np.ndarray, thr: np.ndarray, t0: int, t1: int
) -> tuple[np.ndarray, ...]:
    """Events of one rendering step, the log intensity going linearly from ``prev`` to ``cur``.

    Args:
        prev: log intensities ``[N, H, W]`` at time ``t0``.
        cur: log intensities ``[N, H, W]`` at time ``t1``.
        ref: every pixel's reference level ``[N, H, W]``; updated in place by ``+-C`` per event.
        thr: contrast thresholds ``[H, W]`` (one per pixel).
        t0: start of the step in microseconds.
        t1: end of the step in microseconds.

    Returns:
        ``(sample, t, x, y, on)`` of the step's events, one per threshold level crossed, each at
        the time the linear ramp crosses that level (rounded to the microsecond).
    """
    diff = cur - ref
    # A level reached up to float rounding counts as crossed: a pixel fires at its threshold, and
    # without the margin a pixel returning exactly to a level (common: dark pixels return to
    # log(eps)) could miss it by one ulp of the accumulated reference.
    count = np.floor(np.abs(diff) / thr + LEVEL_EPS).astype(np.int64)
    sample, yy, xx = np.nonzero(count)
    c = count[sample, yy, xx]
    sign = np.sign(diff[sample, yy, xx])
    step_thr = thr[yy, xx]
    start_ref = ref[sample, yy, xx]
    ref[sample, yy, xx] = start_ref + sign * c * step_thr
    owner = np.repeat(np.arange(len(c)), c)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(c) - c, c) + 1  # 1..c within each pixel
    level = start_ref[owner] + sign[owner] * j * step_thr[owner]
    lo, hi = prev[sample, yy, xx][owner], cur[sample, yy, xx][owner]
    # |lo - ref| < C before the step, so every crossed level lies between lo and hi (hi != lo).
    frac = np.clip((level - lo) / (hi - lo), 0.0, 1.0)
    t = t0 + np.rint(frac * (t1 - t0)).astype(np.int64)
    return sample[owner], t, xx[owner], yy[owner], sign[owner] > 0


def _noise(params: EmulatorParams, index: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng([params.seed, index])
    s = params.sensor
    per_pixel = rng.poisson(params.noise_rate_hz * params.duration_us * 1e-6, (s, s))
    yy, xx = np.nonzero(per_pixel)
    c = per_pixel[yy, xx]
    x, y = np.repeat(xx, c), np.repeat(yy, c)
    t = rng.integers(0, params.duration_us + 1, len(x))
    p = rng.integers(0, 2, len(x)).astype(bool)
    return t.astype(np.int64), x, y, p
