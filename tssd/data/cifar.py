"""CIFAR10 and CIFAR100 from the official python-pickle archives (no torchvision).

Accepted layouts under ``data.root`` (or ``data.options.path`` pointing at the folder or archive):

* CIFAR10: ``cifar-10-batches-py/`` with ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``
  (as extracted from ``cifar-10-python.tar.gz``), or the archive itself;
* CIFAR100: ``cifar-100-python/`` with ``train`` and ``test``, or ``cifar-100-python.tar.gz``.

Both are also looked for one level down, in ``<root>/cifar10/`` and ``<root>/cifar100/``. The
archives are read in place (no extraction). Pickles are loaded with an unpickler that only admits
the numpy array reconstructors, so a tampered file cannot run code.

The split is the official one (50,000 train / 10,000 test); its hash is taken over the file
names stored in the batches. Images stay uint8 in memory (150 MB for the train set) and each
batch is converted, augmented and normalised on the fly. ``data.augment`` applies the paper
profile's augmentation: random crop 32 with 4 px zero padding and a horizontal flip with
probability 1/2, then (``data.options.autoaugment: true``, needs kornia) the AutoAugment CIFAR10
policy, then normalisation with the train set's per-channel mean and standard deviation.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tssd.data import provenance
from tssd.data.base import DataBundle, DatasetUnavailable, TensorSplit, dataset_spec
from tssd.data.cache import list_hash
from tssd.data.catalog import CIFAR_DEFAULTS as DEFAULTS
from tssd.data.catalog import CIFAR_EXPECTED as EXPECTED
from tssd.data.events import DatasetCorrupt
from tssd.data.options import require_default_split, resolve_options
from tssd.data.status import DatasetStatus
from tssd.data.transforms import AutoAugmentCIFAR10, draw_flips, draw_shifts, flip, shift


@dataclass(frozen=True)
class CifarSpec:
    """Where one CIFAR variant lives and how its pickles are laid out."""

    name: str
    folder: str
    archive: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    url: str

    def layout(self, root: str) -> str:
        """The expected layout and where to get it (for error messages)."""
        files = ", ".join(self.train_files + self.test_files)
        return (
            f"expected {Path(root or '<data.root>') / self.folder}/ holding {files} (the "
            f"python version), or the archive {self.archive} in {root or '<data.root>'} "
            f"(or in a '{self.name}' subfolder); download {self.url}"
        )


CIFAR10 = CifarSpec(
    "cifar10",
    "cifar-10-batches-py",
    "cifar-10-python.tar.gz",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("test_batch",),
    "labels",
    10,
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
)
CIFAR100 = CifarSpec(
    "cifar100",
    "cifar-100-python",
    "cifar-100-python.tar.gz",
    ("train",),
    ("test",),
    "fine_labels",
    100,
    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
)
VARIANTS = {spec.name: spec for spec in (CIFAR10, CIFAR100)}


class _ArrayUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch contains: dicts, lists, bytes and numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name} in a CIFAR batch")
        return super().find_class(module, name)


def _key(d: dict, key: str):
    return d[key.encode()] if key.encode() in d else d[key]


def parse_batch(blob: bytes, where: str, label_key: str, num_classes: int):
    """Images ``[n, 3, 32, 32]`` uint8, labels int64 and file names of one pickled batch.

    Raises:
        DatasetCorrupt: not a pickle, a missing key, or arrays of the wrong shape or range.
    """
    try:
        d = _ArrayUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        raise DatasetCorrupt(f"{where}: not a readable CIFAR python batch ({exc!r})") from exc
    if not isinstance(d, dict):
        raise DatasetCorrupt(f"{where}: expected a pickled dict, got {type(d).__name__}")
    try:
        data = np.asarray(_key(d, "data"))
        labels = np.asarray(_key(d, label_key), dtype=np.int64)
    except KeyError as exc:
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in d)
        raise DatasetCorrupt(
            f"{where}: missing key {exc}; expected 'data' and '{label_key}', found {keys}"
        ) from exc
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetCorrupt(
            f"{where}: 'data' must be uint8 [n, 3072], got {data.dtype} {list(data.shape)}"
        )
    if labels.shape != (len(data),):
        raise DatasetCorrupt(f"{where}: {len(labels)} labels for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetCorrupt(
            f"{where}: labels must lie in [0, {num_classes - 1}], got "
            f"[{labels.min()}, {labels.max()}]"
        )
    try:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in _key(d, "filenames")]
    except KeyError:
        names = [f"{where}#{i}" for i in range(len(data))]
    return data.reshape(-1, 3, 32, 32), labels, names


def locate(spec: CifarSpec, root: str, path: str = "") -> tuple[Path | None, list[Path]]:
    """The folder or archive holding the batches (or None) and every place that was searched."""
    if path:
        cands = [Path(path).expanduser()]
    else:
        r = Path(root).expanduser() if root else None
        cands = (
            []
            if r is None
            else [
                r / spec.folder,
                r / spec.archive,
                r / spec.name / spec.folder,
                r / spec.name / spec.archive,
            ]
        )
    for c in cands:
        if c.is_dir() and (c / spec.train_files[0]).exists():
            return c, cands
        if c.is_file() and c.name.endswith((".tar.gz", ".tgz", ".tar")):
            return c, cands
    return None, cands


def read_blobs(spec: CifarSpec, src: Path) -> dict[str, tuple[bytes, str]]:
    """The raw bytes of every batch file, keyed by file name, each with a name for errors."""
    wanted = spec.train_files + spec.test_files
    if src.is_dir():
        out = {}
        for f in wanted:
            p = src / f
            if not p.is_file():
                raise DatasetUnavailable(f"{p}: missing batch file; {spec.layout(str(src.parent))}")
            out[f] = (p.read_bytes(), str(p))
            provenance.note(p)
        return out
    out = {}
    try:
        with tarfile.open(src, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted and member.name.startswith(spec.folder):
                    fh = tar.extractfile(member)
                    out[base] = (fh.read(), f"{src}:{member.name}")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DatasetCorrupt(f"{src}: truncated or corrupt archive ({exc})") from exc
    provenance.note(src)
    missing = [f for f in wanted if f not in out]
    if missing:
        raise DatasetCorrupt(f"{src}: archive lacks {spec.folder}/{', '.join(missing)}")
    return out


def load_arrays(spec: CifarSpec, src: Path):
    """``(x_train, y_train, names_train, x_test, y_test, names_test)`` of one CIFAR variant."""
    blobs = read_blobs(spec, src)
    parts = {}
    for split, files in (("train", spec.train_files), ("test", spec.test_files)):
        batches = [parse_batch(*blobs[f], spec.label_key, spec.num_classes) for f in files]
        parts[split] = (
            np.concatenate([b[0] for b in batches]),
            np.concatenate([b[1] for b in batches]),
            [n for b in batches for n in b[2]],
        )
    return (*parts["train"], *parts["test"])


class ImageSplit(TensorSplit):
    """uint8 images in memory; :meth:`take` returns normalised (and augmented) float batches."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        *,
        augment: bool = False,
        pad: int = 4,
        autoaugment: AutoAugmentCIFAR10 | None = None,
        size: int = 0,
    ):
        super().__init__(images, labels)
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        self.augment, self.pad, self.autoaugment, self.size = augment, pad, autoaugment, size

    def take(self, idx: torch.Tensor):  # noqa: D102
        x = self.inputs[idx].float().div_(255.0)
        if self.augment:
            dy, dx = draw_shifts(len(x), self.pad)
            x = flip(shift(x, dy, dx, self.pad), draw_flips(len(x)))
            if self.autoaugment is not None:
                x = self.autoaugment(x)
        x = (x - self.mean) / self.std
        if self.size and self.size != x.shape[-1]:
            x = F.interpolate(
                x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True
            )
        return x, self.labels[idx]

    def __getitem__(self, i: int):  # noqa: D105
        x, y = self.take(torch.as_tensor([i]))
        return x[0], y[0]


def build(spec: CifarSpec, cfg) -> DataBundle:
    """The bundle of one CIFAR variant (see the module docstring)."""
    require_default_split(spec.name, cfg.split)
    opts = resolve_options(spec.name, cfg.options, DEFAULTS)
    src, searched = locate(spec, cfg.root, opts["path"])
    if src is None:
        where = ", ".join(map(str, searched)) or "(data.root is empty)"
        raise DatasetUnavailable(
            f"{spec.name}: not found (searched {where}); {spec.layout(cfg.root)}"
        )
    xtr, ytr, ntr, xte, yte, nte = load_arrays(spec, src)
    x_train = torch.from_numpy(xtr)
    flat = x_train.float().div_(255.0).transpose(0, 1).reshape(3, -1)
    mean, std = flat.mean(1), flat.std(1)
    aa = AutoAugmentCIFAR10() if (cfg.augment and opts["autoaugment"]) else None
    size = cfg.size or 32
    info = dataset_spec(spec.name).info(
        size,
        f"official ({len(ytr)} train / {len(yte)} test)",
        list_hash(ntr, nte),
        {
            "source": str(src),
            "mean": mean.tolist(),
            "std": std.tolist(),
            "augment": (f"crop32-pad{opts['pad']}+flip" + ("+autoaugment" if aa else ""))
            if cfg.augment
            else "none",
        },
    )
    train = ImageSplit(
        x_train,
        torch.from_numpy(ytr),
        mean,
        std,
        augment=cfg.augment,
        pad=opts["pad"],
        autoaugment=aa,
        size=size,
    )
    test = ImageSplit(torch.from_numpy(xte), torch.from_numpy(yte), mean, std, size=size)
    return DataBundle(info, train, test)


def cifar10(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """CIFAR10, 10 classes, 32x32 RGB (official python archive)."""
    return build(CIFAR10, cfg)


def cifar100(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """CIFAR100, 100 fine classes, 32x32 RGB (official python archive)."""
    return build(CIFAR100, cfg)


def check_variant(name: str, root: str, deep: bool = False) -> DatasetStatus:
    """:func:`check` of the variant registered as ``name`` (what ``data check`` calls)."""
    return check(VARIANTS[name], root, deep)


def check(spec: CifarSpec, root: str, deep: bool = False) -> DatasetStatus:
    """Presence, completeness (50,000 / 10,000) and validity (every batch decodes)."""
    src, searched = locate(spec, root)
    st = DatasetStatus(spec.name, present=src is not None, layout=spec.layout(root))
    if src is None:
        st.where = "searched " + ", ".join(map(str, searched))
        return st
    st.where = str(src)
    try:
        _, ytr, _, _, yte, _ = load_arrays(spec, src)
    except (DatasetCorrupt, DatasetUnavailable) as exc:
        st.problems.append(str(exc))
        return st
    st.valid = True
    st.counts = {"train": len(ytr), "test": len(yte)}
    st.complete = st.counts == EXPECTED
    if not st.complete:
        st.problems.append(f"{src}: {st.counts} samples, expected {EXPECTED}")
    return st
