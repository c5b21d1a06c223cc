"""Bad input (issue 10): one clear line on stderr, exit code 2 (bad input, config or data) or 3 (a
run that failed), no traceback, nothing partial left behind.

Every case writes its broken files itself, in the exact on-disk formats (CIFAR python pickles,
ImageNet class folders, AEDAT 2.0 / 3.1 trees, run directories), then calls the real command line
(``tssd.cli.main`` / ``bench.cli.main``, or a real process for a few) and checks the line names the
file or key and says what was expected. Further tests below cover what is not a one-line failure:
``data check`` reports, the harness's failed-run accounting, the AEDAT 3.1 eventNumber rule, safe
checkpoint loading and file modes.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_tiny
from PIL import Image

from bench import ROOT
from bench import cli as bench_cli
from tssd import cli as tssd_cli
from tssd.data import aedat, cache, cifar10_dvs, dvs_gesture

pytestmark = pytest.mark.unit


# ---- writers of tiny data sets in the real formats ----------------------------------------------


def write_cifar10(root: Path, per_batch: int = 3) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        blob = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [(i + k) % 10 for k in range(per_batch)],
            b"filenames": [f"{name}_{k}.png".encode() for k in range(per_batch)],
        }
        (d / name).write_bytes(pickle.dumps(blob, protocol=2))
    return d


def write_cifar100_archive(root: Path) -> Path:
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "cifar-100-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in ("train", "test"):
            blob = pickle.dumps(
                {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"fine_labels": [1] * 4},
                protocol=2,
            )
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def write_imagenet(root: Path, classes=("n01", "n02"), per_class: int = 2) -> Path:
    base = root / "imagenet"
    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        for cls in classes:
            (base / split / cls).mkdir(parents=True)
            for k in range(per_class):
                px = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
                Image.fromarray(px).save(base / split / cls / f"{cls}_{k}.JPEG", "JPEG")
    return base


def write_cifar10_dvs(root: Path, per_class: int = 2, base: Path | None = None) -> Path:
    """``<base>/<class>/cifar10_<class>_<i>.aedat`` (base: ``root/cifar10_dvs/extract``)."""
    base = base or root / "cifar10_dvs" / "extract"
    rng = np.random.default_rng(3)
    for cls in cifar10_dvs.CLASSES:
        (base / cls).mkdir(parents=True)
        for i in range(per_class):
            n = 60
            aedat.write_aedat2_dvs128(
                base / cls / f"cifar10_{cls}_{i}.aedat",
                np.sort(rng.integers(0, 100_000, n)),
                rng.integers(0, 128, n),
                rng.integers(0, 128, n),
                rng.integers(0, 2, n),
            )
    return base


GESTURE_TRIALS = {"train": ["user01_lab", "user02_led"], "test": ["user24_led"]}


def write_gesture(root: Path, raw: Path | None = None) -> Path:
    """Three trials (two train, one test) with 11 labelled 1 ms windows each."""
    raw = raw or root / "dvs_gesture" / "extract" / "DvsGesture"
    raw.mkdir(parents=True)
    for split, trials in GESTURE_TRIALS.items():
        (raw / dvs_gesture.LISTS[split]).write_text("".join(f"{t}.aedat\n" for t in trials))
        for j, trial in enumerate(trials):
            t = np.arange(0, 120_000, 50) + j
            rng = np.random.default_rng(j)
            n = len(t)
            xs, ys, ps = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
            aedat.write_aedat31(raw / f"{trial}.aedat", t, xs, ys, ps, packet_events=500)
            rows = [f"{c + 1},{10_000 * c + 1_000},{10_000 * c + 2_000}" for c in range(11)]
            (raw / f"{trial}_labels.csv").write_text(
                "class,startTime_usec,endTime_usec\n" + "\n".join(rows) + "\n"
            )
    return raw


def truncate(path: Path, drop: int) -> None:
    path.write_bytes(path.read_bytes()[:-drop])


# ---- the cases ----------------------------------------------------------------------------------


@dataclass
class Case:
    """What one case runs and what it expects."""

    argv: list[str]
    needles: list[str]
    code: int = 2
    tool: str = "tssd"
    """tssd | bench | process (a real ``python -m`` process; argv starts with the module)."""
    absent: list[Path] = field(default_factory=list)
    """Paths that must not exist afterwards (nothing partial)."""
    check: Callable[[], None] | None = None
    missing_modules: list[str] = field(default_factory=list)
    """Modules made unimportable for the call (optional dependencies)."""


def train_argv(run: Path, *sets: str) -> list[str]:
    """A tiny ``tssd train`` (micro_cnn width 4, one epoch, one thread)."""
    base = [
        "model.width=4",
        "optim.epochs=1",
        "runtime.threads=1",
        "runtime.progress=false",
        "data.size=16",
        "data.batch_size=64",
    ]
    argv = ["train", "--out", str(run), "--quiet"]
    for s in (*base, *sets):
        argv += ["--set", s]
    return argv


def no_build_leftovers(root: Path) -> Callable[[], None]:
    def check() -> None:
        assert not [p for p in root.rglob("*") if ".building" in p.name], "temporary build left"
        for marker in root.rglob(cache.MARKER):
            assert marker.parent.name not in ("events_np",), f"{marker} marks a failed conversion"

    return check


def data_case(
    dataset: str, *sets: str, events: bool = False
) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], Case]]:
    """Decorator: a case from ``prepare(tmp)``, which writes a broken ``dataset`` under
    ``tmp/data`` and returns the needles: a tiny ``tssd train`` on it (plus ``sets``) must fail
    naming them and leave no run directory; with ``events`` (an event dataset read from files)
    also no ``events_np`` of it and no unfinished conversion."""

    def deco(prepare: Callable[[Path], list[str]]) -> Callable[[Path], Case]:
        def make(tmp: Path) -> Case:
            needles = prepare(tmp)
            run = tmp / "run"
            return Case(
                train_argv(run, f"data.name={dataset}", f"data.root={tmp / 'data'}", *sets),
                needles,
                absent=[run, tmp / "data" / dataset / "events_np"] if events else [run],
                check=no_build_leftovers(tmp / "data") if events else None,
            )

        return make

    return deco


@data_case("cifar10_dvs", "data.options.expect=subset", "data.split=per_class:1", events=True)
def _cifar10_dvs_truncated(tmp: Path) -> list[str]:
    write_cifar10_dvs(tmp / "data")
    truncate(tmp / "data/cifar10_dvs/extract/frog/cifar10_frog_1.aedat", 3)
    return ["cifar10_frog_1.aedat", "not a multiple of 8"]


@data_case("dvs_gesture", "data.options.expect=subset", events=True)
def _gesture_truncated(tmp: Path) -> list[str]:
    raw = write_gesture(tmp / "data")
    truncate(raw / "user24_led.aedat", 100)
    return ["user24_led.aedat", "packet at byte", "file ends after"]


@data_case("cifar10")
def _cifar10_truncated_pickle(tmp: Path) -> list[str]:
    d = write_cifar10(tmp / "data")
    truncate(d / "data_batch_3", 500)
    return ["data_batch_3", "not a readable CIFAR python batch"]


@data_case("cifar100")
def _cifar100_truncated_archive(tmp: Path) -> list[str]:
    arc = write_cifar100_archive(tmp / "data")
    truncate(arc, 200)
    return ["cifar-100-python.tar.gz", "truncated or corrupt archive"]


@data_case("imagenet")
def _imagenet_empty_class(tmp: Path) -> list[str]:
    base = write_imagenet(tmp / "data")
    (base / "train" / "n03").mkdir()
    (base / "train" / "n03" / "notes.txt").write_text("not an image")
    return ["train/n03", "empty class folder", ".jpg"]


def _imagenet_truncated_jpeg(tmp: Path, existing: bool = False, workers: int = 0) -> Case:
    base = write_imagenet(tmp / "data")
    bad = base / "train" / "n02" / "n02_1.JPEG"
    truncate(bad, bad.stat().st_size // 2)
    run = tmp / "run"
    if existing:
        run.mkdir()

    def check() -> None:
        assert not existing or sorted(run.iterdir()) == []  # what this call wrote is gone

    return Case(
        train_argv(
            run,
            "data.name=imagenet",
            f"data.root={tmp / 'data'}",
            f"runtime.num_workers={workers}",  # 1: re-raised by the DataLoader
        ),
        ["n02_1.JPEG", "unreadable image"],
        absent=[] if existing else [run],
        check=check,
    )


def _root_is_file(dataset: str) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        f = tmp / "datasets.tar"
        f.write_bytes(b"not a directory")
        run = tmp / "run"
        return Case(
            train_argv(run, f"data.name={dataset}", f"data.root={f}"),
            [str(f), "data.root", "expected the directory"],
            absent=[run],
        )

    return make


@data_case("cifar10_dvs", events=True)
def _cifar10_dvs_few_recordings(tmp: Path) -> list[str]:
    write_cifar10_dvs(tmp / "data", per_class=3)
    return ["extract/airplane", "3 recordings, expected 1000", "data.options.expect: subset"]


# random:0:0.9 keeps round(0.9 * 2) = 2 of 2 recordings per class for training
@data_case("cifar10_dvs", "data.options.expect=subset")
def _cifar10_dvs_empty_test_split(tmp: Path) -> list[str]:
    write_cifar10_dvs(tmp / "data", per_class=2)
    return ["cifar10_dvs", "data.split", "leaves the test split empty", "20 train / 0 test"]


@data_case("cifar10_dvs")
def _cifar10_dvs_foreign_partial_cache(tmp: Path) -> list[str]:
    ev = tmp / "data" / "cifar10_dvs" / "events_np" / "airplane"
    ev.mkdir(parents=True)
    np.savez(ev / "cifar10_airplane_0.npz", t=[1], x=[1], y=[1], p=[1])
    return ["events_np", "holds 1 recordings, expected 10000"]


@data_case("cifar10_dvs")
def _cifar10_dvs_subset_cache_used_as_full(tmp: Path) -> list[str]:
    from tssd.config import DataConfig
    from tssd.data import build_dataset

    write_cifar10_dvs(tmp / "data", per_class=2)
    build_dataset(
        DataConfig(
            name="cifar10_dvs",
            root=str(tmp / "data"),
            split="per_class:1",
            options={"expect": "subset"},
        ),
        (2,),
    )
    return ["events_np", "converted from a subset", "expected 10000"]


@data_case("cifar10_dvs", events=True)
def _cifar10_dvs_other_layout(tmp: Path) -> list[str]:
    base = tmp / "data" / "cifar10_dvs"
    write_cifar10_dvs(tmp / "data", base=base)  # no extract/ level
    return ["found in another layout", f"move {base / 'airplane'} to {base / 'extract/airplane'}"]


@data_case("cifar10_dvs", events=True)
def _cifar10_dvs_nested_extract(tmp: Path) -> list[str]:
    extract = tmp / "data" / "cifar10_dvs" / "extract"
    write_cifar10_dvs(tmp / "data", base=extract / "CIFAR10DVS")
    return ["found in another layout", f"move {extract / 'CIFAR10DVS/airplane'} to {extract}"]


@data_case("cifar10_dvs", "data.options.expect=subset", events=True)
def _cifar10_dvs_missing_class(tmp: Path) -> list[str]:
    extract = write_cifar10_dvs(tmp / "data")
    for f in (extract / "dog").iterdir():
        f.unlink()
    (extract / "dog").rmdir()
    return ["extract/dog", "class folder missing", "expected one per class"]


@data_case("dvs_gesture", events=True)
def _gesture_three_trials(tmp: Path) -> list[str]:
    write_gesture(tmp / "data")
    return ["trials_to_train.txt", "lists 2 trials, expected 98", "data.options.expect: subset"]


@data_case("dvs_gesture", "data.options.expect=subset", events=True)
def _gesture_missing_csv(tmp: Path) -> list[str]:
    raw = write_gesture(tmp / "data")
    (raw / "user02_led_labels.csv").unlink()
    return ["user02_led_labels.csv", "missing label CSV", "class,startTime_usec,endTime_usec"]


@data_case("dvs_gesture")
def _gesture_other_layout(tmp: Path) -> list[str]:
    base = tmp / "data" / "dvs_gesture"
    write_gesture(tmp / "data", raw=base / "DvsGesture")  # no extract/ level
    return [
        "found in another layout",
        f"move {base / 'DvsGesture'} to {base / 'extract/DvsGesture'}",
    ]


def _config(*sets: str, needles: list[str]) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        run = tmp / "run"
        return Case(train_argv(run, *sets), needles, absent=[run])

    return make


def _bad_yaml(tmp: Path) -> Case:
    cfg = tmp / "run.yaml"
    cfg.write_text("method: {name: tssd\noptim:\n  lr: [0.1\n")
    run = tmp / "run"
    return Case(["train", str(cfg), "--out", str(run)], [str(cfg), "not valid YAML"], absent=[run])


def _out_is_file(tmp: Path) -> Case:
    out = tmp / "run"
    out.write_text("a file")

    def check() -> None:
        assert out.read_text() == "a file"

    return Case(
        train_argv(out),
        [str(out), "the run directory is a file", "expected a directory"],
        check=check,
    )


class Planted:
    """Unpickling this would create the file ``path`` (what a malicious checkpoint could do)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _planted_run(tmp: Path, payload: Callable[[Path], None]) -> tuple[Path, list[str]]:
    """A run directory of the tiny config (status running) holding ``payload`` as checkpoint."""
    from tssd.config import load_config

    run = tmp / "run"
    argv = train_argv(run)
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    cfg = load_config(None, sets)
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"config_hash": cfg.hash(), "status": "running"}))
    (run / "epochs.csv").write_text("epoch\n1\n")
    payload(run / "checkpoint.pt")
    return run, argv


def _malicious_checkpoint(tmp: Path) -> Case:
    marker = tmp / "pwned"
    run, argv = _planted_run(
        tmp, lambda p: torch.save({"epoch": 0, "evil": Planted(str(marker))}, p)
    )

    def check() -> None:
        assert not marker.exists(), "the planted pickle ran"
        assert (run / "checkpoint.pt").is_file() and (run / "epochs.csv").is_file()  # kept

    return Case(argv, [str(run / "checkpoint.pt"), "refused", "io.open"], 3, check=check)


def _corrupt_checkpoint(tmp: Path) -> Case:
    run, argv = _planted_run(tmp, lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"))

    def check() -> None:
        assert (run / "epochs.csv").is_file()  # a run with epochs is never removed

    return Case(argv, [str(run / "checkpoint.pt"), "corrupt file"], 3, check=check)


def _planted_inference(tmp: Path) -> Case:
    marker = tmp / "pwned"
    run = tmp / "run"
    run.mkdir()
    torch.save({"format": "tssd-inference/1", "x": Planted(str(marker))}, run / "inference.pt")

    def check() -> None:
        assert not marker.exists(), "the planted pickle ran"

    return Case(
        ["export", str(run), "--out", str(tmp / "model.pt")],
        [str(run / "inference.pt"), "refused", "io.open"],
        absent=[tmp / "model.pt"],
        check=check,
    )


def _data_check_root(kind: str) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        root = tmp / "data"
        if kind == "file":
            root.write_text("x")
        return Case(
            ["data", "check", "--data-root", str(root)],
            ["--data-root", str(root), "is a file" if kind == "file" else "does not exist"],
        )

    return make


def _bench_data_root(kind: str) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        root = tmp / "data"
        if kind == "file":
            root.write_text("x")
        res = tmp / "results"
        return Case(
            ["run", "table1", "--profile", "paper", "--data-root", str(root), "--dry-run"]
            + ["--results", str(res)],
            ["--data-root", str(root), "expected the directory holding the datasets"],
            tool="bench",
            absent=[res / "runs"],
        )

    return make


def _bench_missing(cmd: str, module: str, *extra: str) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        res = tmp / "results"
        return Case(
            [cmd, *extra, "--results", str(res)],
            [module, "not installed", "pip install", "harness"],
            tool="bench",
            absent=[res / "runs", res / "quick"],
            missing_modules=[module],
        )

    return make


def _process(argv_of: Callable[[Path], tuple[list[str], list[str]]]) -> Callable[[Path], Case]:
    def make(tmp: Path) -> Case:
        argv, needles = argv_of(tmp)
        return Case(argv, needles, tool="process", absent=[tmp / "run"])

    return make


def _proc_nan(tmp: Path):
    return ["tssd", *train_argv(tmp / "run", "method.alpha=nan")], ["method.alpha", "finite"]


def _proc_cifar(tmp: Path):
    d = write_cifar10(tmp / "data")
    truncate(d / "test_batch", 100)
    argv = train_argv(tmp / "run", "data.name=cifar10", f"data.root={tmp / 'data'}")
    return ["tssd", *argv], ["test_batch", "not a readable CIFAR python batch"]


def _proc_bench_root(tmp: Path):
    f = tmp / "data"
    f.write_text("x")
    argv = ["run", "table1", "--profile", "paper", "--data-root", str(f), "--dry-run"]
    return ["bench", *argv, "--results", str(tmp / "res")], ["--data-root", "is a file"]


def _proc_check_root(tmp: Path):
    return ["tssd", "data", "check", "--data-root", str(tmp / "nowhere")], ["does not exist"]


CASES: dict[str, Callable[[Path], Case]] = {
    # 1. corrupt or missing data in `tssd train`
    "cifar10_dvs-truncated-aedat2": _cifar10_dvs_truncated,
    "dvs_gesture-truncated-aedat31": _gesture_truncated,
    "cifar10-truncated-pickle": _cifar10_truncated_pickle,
    "cifar100-truncated-archive": _cifar100_truncated_archive,
    "imagenet-class-without-images": _imagenet_empty_class,
    "imagenet-truncated-jpeg-found-in-epoch-1": _imagenet_truncated_jpeg,
    "imagenet-truncated-jpeg-existing-run-dir": lambda t: _imagenet_truncated_jpeg(t, True),
    "imagenet-truncated-jpeg-in-a-loader-worker": lambda t: _imagenet_truncated_jpeg(t, workers=1),
    "cifar10-data-root-is-a-file": _root_is_file("cifar10"),
    "digits_dvs-data-root-is-a-file": _root_is_file("digits_dvs"),
    "cifar10_dvs-missing-class-folder": _cifar10_dvs_missing_class,
    "dvs_gesture-missing-label-csv": _gesture_missing_csv,
    # 2. counts against what the dataset declares
    "cifar10_dvs-few-recordings-per-class": _cifar10_dvs_few_recordings,
    "cifar10_dvs-subset-with-empty-test-split": _cifar10_dvs_empty_test_split,
    "cifar10_dvs-foreign-partial-events_np": _cifar10_dvs_foreign_partial_cache,
    "cifar10_dvs-subset-cache-read-as-full": _cifar10_dvs_subset_cache_used_as_full,
    "dvs_gesture-three-trials": _gesture_three_trials,
    # 3. other layouts, named with the move that fixes them; data check roots
    "cifar10_dvs-class-folders-without-extract": _cifar10_dvs_other_layout,
    "cifar10_dvs-extra-folder-in-extract": _cifar10_dvs_nested_extract,
    "dvs_gesture-without-extract": _gesture_other_layout,
    "data-check-root-is-a-file": _data_check_root("file"),
    "data-check-root-missing": _data_check_root("missing"),
    # 4. config values
    "alpha-nan": _config("method.alpha=nan", needles=["method.alpha", "'nan'", "finite"]),
    "lr-inf": _config("optim.lr=inf", needles=["optim.lr", "'inf'", "finite"]),
    "tau-yaml-inf": _config("neuron.tau=.inf", needles=["neuron.tau", "finite"]),
    "threads-negative": _config("runtime.threads=-1", needles=["runtime.threads", ">= 0"]),
    "num-workers-negative": _config("runtime.num_workers=-2", needles=["runtime.num_workers"]),
    "checkpoint-every-zero": _config(
        "runtime.checkpoint_every=0", needles=["runtime.checkpoint_every", "got 0", ">= 1"]
    ),
    "step-size-zero": _config("optim.step_size=0", needles=["optim.step_size", ">= 1"]),
    "data-option-nan": _config(
        "data.name=digits_dvs",
        "data.options.threshold=.nan",
        needles=["data.options.threshold", "finite"],
    ),
    "expect-unknown-value": _config(
        "data.name=cifar10_dvs",
        "data.options.expect=all",
        needles=["data.options.expect", "full, subset"],
    ),
    "config-not-yaml": _bad_yaml,
    "out-is-a-file": _out_is_file,
    # 9. checkpoints are never unpickled with code
    "planted-checkpoint": _malicious_checkpoint,
    "corrupt-checkpoint": _corrupt_checkpoint,
    "planted-inference-file": _planted_inference,
    # 6. and 7. the harness
    "bench-data-root-is-a-file": _bench_data_root("file"),
    "bench-data-root-missing": _bench_data_root("missing"),
    "bench-run-figure-without-matplotlib": _bench_missing("run", "matplotlib", "figure3"),
    "bench-render-figure-without-matplotlib": _bench_missing("render", "matplotlib", "figure3"),
    "bench-aggregate-figure-without-matplotlib": _bench_missing(
        "aggregate", "matplotlib", "figure4"
    ),
    "bench-slurm-without-submitit": _bench_missing(
        "run", "submitit", "table1", "--launcher", "slurm"
    ),
    # real processes
    "process-tssd-alpha-nan": _process(_proc_nan),
    "process-tssd-truncated-cifar": _process(_proc_cifar),
    "process-bench-data-root-is-a-file": _process(_proc_bench_root),
    "process-data-check-root-missing": _process(_proc_check_root),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_and_leaves_nothing(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path / "cache"))
    case = CASES[name](tmp_path)
    if case.tool == "process":
        module, *argv = case.argv
        proc = subprocess.run(
            [sys.executable, "-m", module, *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        for module in case.missing_modules:
            monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
        main = tssd_cli.main if case.tool == "tssd" else bench_cli.main
        code = main(case.argv)
        out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == case.code and code in (2, 3), (code, out, err)
    assert len(lines) == 1 and lines[0].strip(), err
    assert "Traceback" not in out + err
    for needle in case.needles:
        assert needle in lines[0], (needle, lines[0])
    for path in case.absent:
        assert not path.exists(), f"{path} was left behind"
    if case.check is not None:
        case.check()


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


# ---- 3. `data check` reports what is wrong (exit 1, the file named) -----------------------------


def _report_truncated_aedat2(root: Path) -> list[str]:
    write_cifar10_dvs(root, per_class=2)
    truncate(root / "cifar10_dvs/extract/cat/cifar10_cat_1.aedat", 5)
    return ["cifar10_cat_1.aedat", "not a multiple of 8", "INVALID"]


def _report_truncated_aedat31(root: Path) -> list[str]:
    raw = write_gesture(root)
    truncate(raw / "user02_led.aedat", 30)
    return ["user02_led.aedat", "file ends after", "INVALID"]


def _report_truncated_npz(root: Path) -> list[str]:
    ev = root / "cifar10_dvs" / "events_np"
    for cls in cifar10_dvs.CLASSES:
        (ev / cls).mkdir(parents=True)
        for i in range(2):
            np.savez_compressed(ev / cls / f"cifar10_{cls}_{i}.npz", t=[1], x=[2], y=[3], p=[0])
    truncate(ev / "ship" / "cifar10_ship_1.npz", 20)
    return ["cifar10_ship_1.npz", "not a readable .npz", "INVALID"]


def _report_truncated_jpeg(root: Path) -> list[str]:
    base = write_imagenet(root)
    bad = base / "val" / "n01" / "n01_1.JPEG"
    truncate(bad, 40)
    return ["n01_1.JPEG", "end-of-image marker", "INVALID"]


def _report_three_trials(root: Path) -> list[str]:
    write_gesture(root)
    return ["trials_to_train.txt: lists 2 trials, expected 98", "INCOMPLETE"]


def _report_other_layout(root: Path) -> list[str]:
    write_cifar10_dvs(root, base=root / "cifar10_dvs")
    base = root / "cifar10_dvs"
    return ["found in another layout", f"move {base / 'airplane'} to {base / 'extract/airplane'}"]


def _report_root_class_folders(root: Path) -> list[str]:
    write_cifar10_dvs(root, base=root)
    return ["found in another layout", f"move {root / 'bird'} to {root}/cifar10_dvs/extract/bird"]


def _report_gesture_in_root(root: Path) -> list[str]:
    write_gesture(root, raw=root / "DvsGesture")
    return ["found in another layout", f"to {root}/dvs_gesture/extract/DvsGesture"]


REPORTS = {
    "truncated-aedat2-without-deep": _report_truncated_aedat2,
    "truncated-aedat31-without-deep": _report_truncated_aedat31,
    "truncated-events-npz-without-deep": _report_truncated_npz,
    "truncated-jpeg-without-deep": _report_truncated_jpeg,
    "gesture-three-trials-incomplete": _report_three_trials,
    "cifar10_dvs-without-extract": _report_other_layout,
    "cifar10_dvs-class-folders-in-data-root": _report_root_class_folders,
    "gesture-in-data-root": _report_gesture_in_root,
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_data_check_reports_the_file(name, tmp_path, capsys):
    needles = REPORTS[name](tmp_path)
    code = tssd_cli.main(["data", "check", "--data-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    for needle in needles:
        assert needle in out, (needle, out)


def test_scans_read_headers_only_and_agree_with_the_readers(tmp_path):
    from tssd.data import events as E
    from tssd.data.imagenet import scan_image

    write_cifar10_dvs(tmp_path, per_class=1)
    f = tmp_path / "cifar10_dvs/extract/cat/cifar10_cat_0.aedat"
    assert aedat.scan_aedat2(f) == len(aedat.read_cifar10_dvs(f)["t"]) == 60
    raw = write_gesture(tmp_path)
    g = raw / "user01_lab.aedat"
    assert aedat.scan_aedat31(g) == len(aedat.read_aedat31_polarity(g)["t"])
    E.save_events(tmp_path / "e.npz", [1, 2, 3], [0, 1, 2], [0, 1, 2], [1, 0, 1])
    assert E.scan_events(tmp_path / "e.npz") == 3
    base = write_imagenet(tmp_path / "img")
    scan_image(base / "train" / "n01" / "n01_0.JPEG")  # a whole JPEG passes
    png = tmp_path / "x.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(png)
    scan_image(png)
    truncate(png, 8)
    with pytest.raises(Exception, match=r"x\.png.*IEND"):
        scan_image(png)


# ---- 2. a subset is accepted only when asked for -------------------------------------------------


def test_subset_option_converts_and_marks_only_what_it_checked(tmp_path):
    from tssd.config import DataConfig
    from tssd.data import build_dataset

    write_gesture(tmp_path)
    b = build_dataset(
        DataConfig(name="dvs_gesture", root=str(tmp_path), options={"expect": "subset"}), (2,)
    )
    assert (len(b.train), len(b.test)) == (22, 11)
    ev = tmp_path / "dvs_gesture" / "events_np"
    assert cache.read_marker(ev)["files"] == 33
    with pytest.raises(Exception, match=r"events_np: holds 33 samples .*expected 1464"):
        build_dataset(DataConfig(name="dvs_gesture", root=str(tmp_path)), (2,))


# ---- 5. the harness shows failed runs as failed, with their directory and first error line -------


@pytest.mark.smoke
def test_runs_failing_in_epoch_one_show_as_failed_not_cached(tmp_path, capsys):
    rows = [("b", "Baseline", "baseline"), ("t", "TSSD", "tssd")]
    exp = write_tiny(tmp_path, rows, "model.width: 4, optim.epochs: 2, optim.lr: 1.0e+12")
    res = tmp_path / "results"
    argv = ["run", str(exp), "--results", str(res), "--seeds", "0", "--workers", "1"]
    assert bench_cli.main(argv) in (0, 1)  # 1: the failed cells fail their verdict
    out = capsys.readouterr().out
    assert "2/2 runs (2 failed)" in out and "cached" not in out.split("to run")[1], out
    runs = sorted(p.name for p in (res / "runs").iterdir() if not p.name.startswith("."))
    for rid in runs:
        line = next(ln for ln in out.splitlines() if f"run dir {res / 'runs' / rid}" in ln)
        assert "failed: non-finite loss" in line and "epoch 1" in line, line
    assert bench_cli.main(argv) in (0, 1)  # the second time: failed earlier, still not cached
    out = capsys.readouterr().out
    assert "0 cached, 0 to run, 2 failed earlier" in out and "2/2 runs (2 failed)" in out, out
    assert out.count("failed earlier: non-finite loss") == 2


def test_outcome_of_a_job_is_cached_only_when_the_run_was_done_before():
    from bench.execute.run import _outcome
    from bench.execute.worker import JobResult

    assert not _outcome(JobResult("r", "failed", "non-finite loss", trained_epochs=0)).cached
    assert _outcome(JobResult("r", "finished", already_done=True)).cached
    assert not _outcome(JobResult("r", "finished", trained_epochs=3)).cached


# ---- 8. AEDAT 3.1: eventNumber below eventCapacity ----------------------------------------------


def test_aedat31_reads_event_number_slots_not_event_capacity(tmp_path):
    import struct

    def pol(x, y, p, ts, valid=1):
        return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, ts)

    used = [pol(1, 2, 1, 100), pol(3, 4, 0, 101), pol(5, 6, 1, 102, valid=0)]
    unused = [pol(9, 9, 1, 500), pol(8, 8, 0, 501)]  # valid-looking leftovers in unused slots
    # capacity 5, number 3 (2 valid): the body still spans all 5 slots
    head = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 5, 3, 2)
    nxt = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 1, 1, 1) + pol(7, 7, 1, 103)
    path = tmp_path / "user01_lab.aedat"
    path.write_bytes(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + head + b"".join(used + unused) + nxt)
    e = aedat.read_aedat31_polarity(path)
    assert e["t"].tolist() == [100, 101, 103]  # slots 4-5 skipped, the invalid event dropped
    assert e["x"].tolist() == [1, 3, 7] and e["p"].tolist() == [1, 0, 1]
    assert aedat.scan_aedat31(path) == 4  # eventNumber of both packets
    assert "eventNumber" in aedat.__doc__ and "spikingjelly" in aedat.__doc__


# ---- 9. checkpoints: plain values only; legacy ones still resume ---------------------------------


def test_checkpoint_holds_only_plain_values_and_legacy_numpy_state_loads(tiny_cfg, tmp_path):
    from tssd.runtime import rng_state, set_rng_state
    from tssd.train import RunInterrupted, load_checkpoint, train

    cfg = tiny_cfg(optim__epochs=2)
    with pytest.raises(RunInterrupted):
        train(cfg, tmp_path / "run", stop_after_epoch=1)
    ck_path = tmp_path / "run" / "checkpoint.pt"
    torch.load(ck_path, weights_only=True)  # no allow-list needed for a new checkpoint
    ck = load_checkpoint(ck_path, torch.device("cpu"))
    assert isinstance(ck["rng"]["numpy"][1], list)
    # A checkpoint from before (numpy RNG state as an array) still loads and restores.
    state = rng_state()
    legacy = {**ck, "rng": {**state, "numpy": np.random.get_state()}}
    torch.save(legacy, ck_path)
    draws = np.random.random(3)
    set_rng_state(load_checkpoint(ck_path, torch.device("cpu"))["rng"])
    np.testing.assert_array_equal(np.random.random(3), draws)
    assert train(cfg, tmp_path / "run")["status"] == "finished"


# ---- 10. files are created with the user's umask -------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_follow_the_umask(tmp_path, umask):
    from tssd.fileio import atomic_write_text
    from tssd.runtime import atomic_torch_save

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "c.pt")
        with cache.building(tmp_path / "events_np", {"k": 1}) as tmp:
            (tmp / "f.npz").write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "events_np").stat().st_mode & 0o777 == 0o777 & ~umask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_run_directory_files_follow_the_umask(tiny_cfg, tmp_path):
    from tssd.train import train

    old = os.umask(0o022)
    try:
        train(tiny_cfg(optim__epochs=1, method__name="baseline"), tmp_path / "run")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert modes and set(modes.values()) == {0o644}, modes
