"""``python -m tssd data check --data-root DIR``: presence, completeness, validity, exit status."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from tssd.cli import main
from tssd.data import aedat, cifar10_dvs, dvs_gesture

pytestmark = pytest.mark.unit


def run(capsys, *args) -> tuple[int, str]:
    rc = main(["data", "check", *args])
    return rc, capsys.readouterr().out


def test_empty_root_reports_every_dataset_absent_with_its_layout(tmp_path, capsys):
    rc, out = run(capsys, "--data-root", str(tmp_path))
    assert rc == 0
    for name in ("cifar10", "cifar100", "imagenet", "cifar10_dvs", "dvs_gesture"):
        assert f"{name:12s} absent" in out
    assert "cifar-10-python.tar.gz" in out and "trials_to_train.txt" in out
    assert f"searched {tmp_path}/imagenet" in out
    assert "digits       OK" in out
    rc, _ = run(capsys, "--data-root", str(tmp_path), "--require", "cifar10_dvs")
    assert rc == 1
    # an unknown name is bad use (this named mnist, which has been a dataset since issue 12)
    assert main(["data", "check", "--data-root", str(tmp_path), "--only", "no_such_set"]) == 2


def test_incomplete_and_corrupt_sets_fail_and_name_the_file(tmp_path, capsys):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        blob = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}
        (d / name).write_bytes(pickle.dumps(blob, protocol=2))
    ext = tmp_path / "cifar10_dvs" / "extract"
    for cls in cifar10_dvs.CLASSES:
        (ext / cls).mkdir(parents=True)
        aedat.write_aedat2_dvs128(
            ext / cls / f"cifar10_{cls}_0.aedat", [1, 2], [3, 4], [5, 6], [0, 1]
        )
    bad = ext / "horse" / "cifar10_horse_0.aedat"
    bad.write_bytes(bad.read_bytes()[:-1])
    raw = tmp_path / "dvs_gesture" / "extract" / "DvsGesture"
    raw.mkdir(parents=True)
    (raw / "trials_to_train.txt").write_text("user01_lab.aedat\n")
    (raw / "trials_to_test.txt").write_text("user24_lab.aedat\n")
    for trial in ("user01_lab", "user24_lab"):
        aedat.write_aedat31(
            raw / f"{trial}.aedat",
            np.arange(5),
            np.zeros(5, int),
            np.zeros(5, int),
            np.ones(5, int),
        )
    (raw / "user01_lab_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,0,3\n")

    rc, out = run(capsys, "--data-root", str(tmp_path), "--json")
    assert rc == 1
    doc = {d["name"]: d for d in json.loads(out)["datasets"]}
    c10 = doc["cifar10"]
    assert c10["present"] and c10["valid"] and not c10["complete"] and not c10["ok"]
    assert c10["counts"] == {"train": 10, "test": 2}
    dvs = doc["cifar10_dvs"]
    assert dvs["present"] and not dvs["valid"] and dvs["counts"] == {"raw": 10}
    assert any("cifar10_horse_0.aedat" in p and "not a multiple of 8" in p for p in dvs["problems"])
    ges = doc["dvs_gesture"]
    assert ges["present"] and not ges["valid"]
    assert any("user24_lab_labels.csv: missing label CSV" in p for p in ges["problems"])
    assert not doc["imagenet"]["present"] and doc["imagenet"]["ok"]
    rc, text = run(capsys, "--data-root", str(tmp_path), "--only", "cifar10_dvs")
    assert rc == 1 and "present, INCOMPLETE, INVALID" in text
    assert dvs_gesture.EXPECTED == {"train": 1176, "test": 288}  # spikingjelly's sample counts


def test_validate_data_config_checks_options_and_split_without_disk():
    from tssd.config import ConfigError, DataConfig

    # its home moved from tssd.data.options (which imported every dataset) to the registry,
    # which asks each dataset's DatasetSpec
    from tssd.data import validate_data_config

    validate_data_config(
        DataConfig(
            name="cifar10_dvs", root="/nonexistent", split="per_class:100", options={"flip": False}
        )
    )
    validate_data_config(DataConfig(name="digits_dvs", options={"sensor": 24, "digit_px": 18}))
    for data, pattern in (
        (DataConfig(name="cifar10_dvs", split="first100"), r"data\.split"),
        (DataConfig(name="dvs_gesture", options={"flip": "yes"}), r"data\.options\.flip"),
        (DataConfig(name="digits", options={"x": 1}), r"takes no options"),
        (DataConfig(name="digits", split="random:0:0.5"), r"data\.split"),
        (DataConfig(name="imagenet", options={"pth": "/x"}), r"data\.options\.pth"),
    ):
        with pytest.raises(ConfigError, match=pattern):
            validate_data_config(data)
