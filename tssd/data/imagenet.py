"""ImageNet (ILSVRC2012) from the standard class-folder layout, read with PIL (no torchvision).

Layout: ``<data.root>/imagenet/train/<wnid>/*.JPEG`` and ``<data.root>/imagenet/val/<wnid>/*``
(the validation images sorted into class folders, as the usual ``valprep.sh`` does), or any such
folder named by ``data.options.path``. Class indices are the sorted folder names; train and val
must hold the same classes. Accepted image files: .jpg .jpeg .png .bmp .ppm .webp (any case);
grayscale, palette and RGBA images are converted to RGB.

Transforms: training with ``data.augment`` uses the Inception-style random resized crop (area
8-100 %, aspect 3/4-4/3) to ``size`` (default 224) and a horizontal flip; evaluation (and
training without augment) resizes the shorter side to ``size / 0.875`` and centre-crops ``size``.
Normalisation uses the standard ImageNet channel statistics. File-backed: the trainer batches it
with a DataLoader (``runtime.num_workers`` workers).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from tssd.data.base import DataBundle, DatasetUnavailable, dataset_spec
from tssd.data.cache import list_hash
from tssd.data.catalog import IMAGENET_DEFAULTS as DEFAULTS
from tssd.data.catalog import IMAGENET_EXPECTED as EXPECTED
from tssd.data.events import DatasetCorrupt
from tssd.data.options import require_default_split, resolve_options
from tssd.data.status import DatasetStatus
from tssd.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    random_resized_crop,
    resize_center_crop,
)

NAME = "imagenet"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


def layout(root: str) -> str:
    """The expected layout and where to get it (for error messages)."""
    base = Path(root or "<data.root>") / "imagenet"
    return (
        f"expected {base}/train/<class>/<images> and {base}/val/<class>/<images> (the val "
        "images sorted into the same class folders), or data.options.path pointing at such a "
        "folder; ILSVRC2012 is distributed by https://image-net.org (registration needed)"
    )


def locate(root: str, path: str = "") -> tuple[Path | None, list[Path]]:
    """The folder holding ``train/`` and ``val/`` (or None) and the places searched."""
    cands = (
        [Path(path).expanduser()]
        if path
        else ([Path(root).expanduser() / "imagenet"] if root else [])
    )
    for c in cands:
        if (c / "train").is_dir() and (c / "val").is_dir():
            return c, cands
    return None, cands


def scan(split_dir: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Sorted class names and ``(relative path, label)`` of every image of one split folder.

    Raises:
        DatasetCorrupt: no class folders, or a class folder without image files.
    """
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    if not classes:
        raise DatasetCorrupt(f"{split_dir}: no class folders (expected <class>/<images>)")
    samples = []
    for label, cls in enumerate(classes):
        files = sorted(
            e.name
            for e in os.scandir(split_dir / cls)
            if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not files:
            raise DatasetCorrupt(
                f"{split_dir / cls}: empty class folder (no {'/'.join(IMAGE_EXTENSIONS)} files)"
            )
        samples.extend((f"{cls}/{f}", label) for f in files)
    return classes, samples


def load_rgb(path: Path) -> Image.Image:
    """Open and fully decode an image as RGB.

    Raises:
        DatasetCorrupt: not an image, or a truncated/corrupt file.
    """
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetCorrupt(f"{path}: unreadable image ({exc})") from exc


def scan_image(path: Path) -> None:
    """Check an image file's size against its format without decoding it: a JPEG must end with
    its end-of-image marker (within the last KiB), a PNG with its IEND chunk, a BMP or WebP must be
    as long as its header declares; other formats must not be empty. Reads two small pieces.

    Raises:
        DatasetCorrupt: an empty or truncated file.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - 1024))
            tail = f.read()
    except OSError as exc:
        raise DatasetCorrupt(f"{path}: unreadable image ({exc})") from exc
    problem = ""
    if size == 0:
        problem = "empty file"
    elif head.startswith(b"\xff\xd8"):
        if b"\xff\xd9" not in tail:
            problem = "JPEG without its end-of-image marker: truncated?"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        if b"IEND" not in tail[-64:]:
            problem = "PNG without its IEND chunk: truncated?"
    elif head[:2] == b"BM" and int.from_bytes(head[2:6], "little") > size:
        problem = (
            f"BMP header declares {int.from_bytes(head[2:6], 'little')} bytes, file has {size}"
        )
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = int.from_bytes(head[4:8], "little") + 8
        if declared > size:
            problem = f"WebP header declares {declared} bytes, file has {size}"
    if problem:
        raise DatasetCorrupt(f"{path}: unreadable image ({problem})")


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB image to a float ``[3, H, W]`` tensor in [0, 1]."""
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


class ImageFolderSplit(Dataset):
    """One split of a class-folder tree; samples are ``(image [3, size, size], label)``."""

    def __init__(self, root: Path, samples: list[tuple[str, int]], size: int, train_aug: bool):
        self.root, self.samples, self.size, self.train_aug = root, samples, size, train_aug
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        rel, label = self.samples[i]
        img = load_rgb(self.root / rel)
        if self.train_aug:
            img = random_resized_crop(img, self.size)
            if bool(torch.rand(1) < 0.5):
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            img = resize_center_crop(img, self.size)
        return (to_tensor(img) - self.mean) / self.std, label


def _scan_both(src: Path):
    classes_tr, train = scan(src / "train")
    classes_va, val = scan(src / "val")
    if classes_tr != classes_va:
        only_tr = sorted(set(classes_tr) - set(classes_va))[:5]
        only_va = sorted(set(classes_va) - set(classes_tr))[:5]
        raise DatasetCorrupt(
            f"{src}: train/ and val/ hold different classes (only in train: "
            f"{only_tr}, only in val: {only_va})"
        )
    return classes_tr, train, val


def imagenet(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """ImageNet from ``train/`` and ``val/`` class folders (see the module docstring)."""
    require_default_split(NAME, cfg.split)
    opts = resolve_options(NAME, cfg.options, DEFAULTS)
    src, searched = locate(cfg.root, opts["path"])
    if src is None:
        where = ", ".join(map(str, searched)) or "(data.root is empty)"
        raise DatasetUnavailable(f"{NAME}: not found (searched {where}); {layout(cfg.root)}")
    classes, train, val = _scan_both(src)
    size = cfg.size or 224
    info = dataset_spec(NAME).info(
        size,
        f"official train/ ({len(train)}) and val/ ({len(val)}) folders",
        list_hash((r for r, _ in train), (r for r, _ in val)),
        {
            "source": str(src),
            "augment": "random-resized-crop+flip" if cfg.augment else "none",
            "eval_transform": f"resize {round(size / 0.875)} + center crop {size}",
        },
    )
    info.num_classes = len(classes)  # the folders decide: a subset of classes trains its head
    return DataBundle(
        info,
        ImageFolderSplit(src / "train", train, size, cfg.augment),
        ImageFolderSplit(src / "val", val, size, False),
    )


def check(root: str, deep: bool = False) -> DatasetStatus:
    """Presence, completeness (1000 classes, 1,281,167 / 50,000 images) and validity (every
    image's size against its format, :func:`scan_image`; with ``deep`` every image decodes)."""
    src, searched = locate(root)
    st = DatasetStatus(NAME, present=src is not None, layout=layout(root))
    if src is None:
        st.where = "searched " + ", ".join(map(str, searched))
        return st
    st.where = str(src)
    try:
        classes, train, val = _scan_both(src)
    except DatasetCorrupt as exc:
        st.problems.append(str(exc))
        return st
    st.counts = {"classes": len(classes), "train": len(train), "val": len(val)}
    st.complete = st.counts == EXPECTED
    if not st.complete:
        st.problems.append(f"{src}: {st.counts}, expected {EXPECTED}")
    for split, samples in (("train", train), ("val", val)):
        for rel, _ in samples:
            try:
                (load_rgb if deep else scan_image)(src / split / rel)
            except DatasetCorrupt as exc:
                st.problems.append(str(exc))
    st.valid = not any("unreadable image" in p for p in st.problems)
    return st
