"""Augmentations without torchvision: batched tensor ops for CIFAR and event frames, PIL crops for
ImageNet, and AutoAugment through kornia when it is installed.

Randomness comes from torch's global generator (or an explicit one), which the trainer seeds and
checkpoints and DataLoader workers re-seed, so an augmented run is reproducible from its seed.
Event samples carry several framings of one stream (``{T: [.., T, 2, H, W]}``); one draw of
offsets and flips is applied to every framing, so student and teacher see the same view.
"""

from __future__ import annotations

import math

import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The channel statistics of the ImageNet train set every ImageNet recipe normalises with."""


def draw_shifts(batch: int, max_shift: int, generator: torch.Generator | None = None):
    """Per-sample integer offsets ``(dy, dx)`` uniform in ``[-max_shift, max_shift]``."""
    lo, hi = -max_shift, max_shift + 1
    dy = torch.randint(lo, hi, (batch,), generator=generator)
    dx = torch.randint(lo, hi, (batch,), generator=generator)
    return dy, dx


def draw_flips(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample booleans: flip horizontally with probability 1/2."""
    return torch.rand(batch, generator=generator) < 0.5


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each sample of ``x`` ``[B, ..., H, W]`` by ``(dy[b], dx[b])`` pixels, zero fill.

    With ``max_shift = 4`` on 32x32 images this is exactly "random crop 32 with padding 4".
    """
    if max_shift == 0:
        return x
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    flat = x.reshape(b, -1, h, w)
    m = max_shift
    padded = torch.nn.functional.pad(flat, (m, m, m, m))
    rows = (m - dy)[:, None] + torch.arange(h)[None, :]  # [B, H] source rows in padded frame
    cols = (m - dx)[:, None] + torch.arange(w)[None, :]
    c = flat.shape[1]
    idx_r = rows[:, None, :, None].expand(b, c, h, w + 2 * m)
    out = padded.gather(2, idx_r)
    idx_c = cols[:, None, None, :].expand(b, c, h, w)
    out = out.gather(3, idx_c)
    return out.reshape(x.shape)


def flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the samples of ``x`` ``[B, ..., W]`` selected by ``mask`` along the last axis."""
    if not bool(mask.any()):
        return x
    out = x.clone()
    out[mask] = x[mask].flip(-1)
    return out


class AutoAugmentCIFAR10:
    """The AutoAugment CIFAR10 policy (Cubuk et al. 2019) on float batches in [0, 1].

    Uses ``kornia.augmentation.auto.AutoAugment("cifar10")`` (kornia >= 0.7, no torchvision);
    kornia is an optional dependency: a clear error says how to install it when it is missing.
    """

    def __init__(self):
        try:
            from kornia.augmentation.auto import AutoAugment
        except ImportError as exc:
            raise ImportError(
                "data.options.autoaugment=true needs kornia (a maintained AutoAugment that does "
                "not need torchvision): pip install 'kornia==0.9.0' 'kornia-rs==0.2.0' "
                f"(import failed: {exc})"
            ) from exc
        self.op = AutoAugment("cifar10")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.op(x).clamp_(0.0, 1.0)


# ---- PIL crops for ImageNet ------------------------------------------------------------------


def random_resized_crop(
    img: Image.Image, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
) -> Image.Image:
    """Inception-style crop: a random area fraction in ``scale`` and aspect ratio (log-uniform) in
    ``ratio``, resized to ``size`` x ``size`` (bilinear). After 10 failed draws it falls back to
    the largest centred crop whose aspect ratio lies in ``ratio``."""
    w, h = img.size
    area = w * h
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(scale[0], scale[1]))
        r = math.exp(float(torch.empty(1).uniform_(*log_r)))
        cw = round(math.sqrt(target * r))
        ch = round(math.sqrt(target / r))
        if 0 < cw <= w and 0 < ch <= h:
            x0 = int(torch.randint(0, w - cw + 1, (1,)))
            y0 = int(torch.randint(0, h - ch + 1, (1,)))
            return img.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, round(w / ratio[0])
    elif in_ratio > ratio[1]:
        cw, ch = round(h * ratio[1]), h
    else:
        cw, ch = w, h
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return img.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))


def resize_center_crop(img: Image.Image, size: int, crop_fraction: float = 0.875) -> Image.Image:
    """Evaluation crop: shorter side to ``size / crop_fraction`` (256 for 224), centre ``size``."""
    w, h = img.size
    short = round(size / crop_fraction)
    if w <= h:
        nw, nh = short, max(short, round(h * short / w))
    else:
        nw, nh = max(short, round(w * short / h)), short
    img = img.resize((nw, nh), Image.BILINEAR)
    x0, y0 = (nw - size) // 2, (nh - size) // 2
    return img.crop((x0, y0, x0 + size, y0 + size))
