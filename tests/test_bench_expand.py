"""Experiment x profile -> cells and hashed runs: merging, sharing, teachers, availability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.plan.expand import expand
from bench.plan.schema import SpecError, experiment_path, load_experiment, load_profile
from tssd.config import MethodConfig, from_dict
from tssd.methods import METHODS

pytestmark = pytest.mark.unit


def plan_of(eid: str, profile: str = "quick", tmp_path: Path | None = None, **kw):
    runs = (tmp_path or Path("/nonexistent")) / "runs"
    return expand(load_experiment(experiment_path(eid)), load_profile(profile), runs_dir=runs, **kw)


def cell(plan, **key):
    found = [c for c in plan.cells if c.matches(key)]
    assert len(found) == 1, [c.id for c in found]
    return found[0]


def test_quick_merges_columns_that_share_a_stand_in():
    plan = plan_of("table2")
    assert len(plan.cells) == 6  # cifar10 and cifar100 -> digits: one column
    c = cell(plan, method="tssd", t_s=2)
    assert c.key["dataset"] == "digits"
    assert c.stands_for["dataset"] == ["cifar10", "cifar100"]
    assert len(c.runs) == 3 and len(set(c.runs)) == 3
    paper = plan_of("table2", "paper")
    assert len(paper.cells) == 12


def test_run_ids_are_the_config_hashes():
    plan = plan_of("table2")
    for rid, run in plan.runs.items():
        cfg = from_dict(run.config, "test")
        assert cfg.hash() == rid
        # the quick profile asks for threads 0: each run picks its share of the free cores
        assert cfg.runtime.threads == 0 and cfg.runtime.progress is False
        assert cfg.method.t_t == (2 * cfg.method.t_s if cfg.method.name == "tssd" else 4)


def test_runs_are_shared_between_tables():
    t1, t2, f3 = plan_of("table1"), plan_of("table2"), plan_of("figure3")
    base1 = cell(t1, method="baseline", dataset="digits").runs
    assert cell(t2, method="baseline", t_s=2).runs == base1
    # figure3's baseline block sets no t_t; canonicalisation makes it table1's baseline anyway
    assert cell(f3, method="baseline", dataset="digits").runs == base1
    assert (
        cell(f3, method="tssd", dataset="digits", t_t=4).runs
        == cell(t1, method="tssd", dataset="digits").runs
    )
    t8 = plan_of("table8")
    middle_full = cell(t8, method="tssd", dataset="digits", position="middle", structure="full")
    assert middle_full.runs == cell(t1, method="tssd", dataset="digits").runs


def test_teacher_is_a_dependency_with_its_hash_in_the_cell():
    plan = plan_of("table5")
    kd = cell(plan, method="kd_ann")
    assert len(kd.teachers) == 3
    for rid, tid in zip(kd.runs, kd.teachers, strict=True):
        run, teacher = plan.runs[rid], plan.runs[tid]
        assert run.deps == (tid,)
        assert run.config["method"]["teacher"] == tid
        assert run.config["method"]["name"] == "kd"
        assert teacher.role == "teacher"
        assert teacher.config["method"]["name"] == "baseline"
        assert teacher.config["method"]["t_s"] == 1
        assert teacher.config["neuron"]["backend"] == "ann"
        assert teacher.seed == run.seed
    snn = cell(plan, method="kd_snn")
    t = plan.runs[snn.teachers[0]]
    assert t.config["model"]["width"] == 32 and t.config["neuron"]["backend"] == "native"
    order = [r.run_id for r in plan.ordered_runs()]
    assert all(order.index(d) < order.index(r.run_id) for r in plan.runs.values() for d in r.deps)


def test_unregistered_dataset_is_not_runnable_not_an_error(tmp_path):
    text = experiment_path("table4").read_text()
    exp_file = tmp_path / "table4.yaml"
    exp_file.write_text(text)
    profile_text = Path(load_profile("quick").path).read_text()
    prof = tmp_path / "quick.yaml"
    prof.write_text(profile_text.replace("data.name: digits_dvs", "data.name: digits_dvx"))
    plan = expand(load_experiment(exp_file), load_profile(prof), runs_dir=tmp_path / "runs")
    assert plan.cells and all(c.unavailable for c in plan.cells)
    assert "dataset 'digits_dvx' is not registered" in plan.cells[0].unavailable
    assert all(r.run_id.startswith("unavailable-") for r in plan.runs.values())


def test_invalid_override_is_a_spec_error_naming_the_cell(tmp_path):
    with pytest.raises(SpecError, match=r"table2\.yaml \(cell method=baseline.*optim\.epochs"):
        plan_of("table2", overrides={"optim.epochs": 0})


def test_overrides_change_hashes():
    a = plan_of("table3")
    b = plan_of("table3", overrides={"optim.epochs": 2})
    assert set(a.runs).isdisjoint(b.runs)
    assert all(r.config["optim"]["epochs"] == 2 for r in b.runs.values())


def test_seeds_override():
    plan = plan_of("table3", seeds=[7])
    assert all(c.seeds == [7] and len(c.runs) == 1 for c in plan.cells)


def test_canonical_resets_only_unread_fields():
    """The one hash pin (``RunConfig.canonical``), which the planner uses too."""
    cfg = from_dict({"method": {"name": "baseline", "t_s": 2, "t_t": 9, "alpha": 0.3}})
    # task_on_teacher is unread by a baseline; it is pinned at the value its hash always had
    assert cfg.canonical().method == MethodConfig("baseline", t_s=2, task_on_teacher=False)
    cfg = from_dict({"method": {"name": "tssd", "t_t": 9, "alpha": 0.3}})
    assert cfg.canonical().method == cfg.method
    cfg = from_dict({"method": {"name": "some_future_method", "t_t": 9}}, check=False)
    assert cfg.canonical().method.t_t == 9  # unknown methods keep every field


def test_planned_configs_are_canonical_and_unread_fields_are_not_validated(tmp_path):
    """A field a run's method does not read is at its default in the planned config, so a value
    meant for another method (a KD weight no run of table3 reads, and an invalid one)
    never makes the run invalid; table3's baselines get their t_t from a derive rule."""
    plan = plan_of("table3", overrides={"method.kd_weight": -1})
    assert plan.runs == plan_of("table3").runs
    assert all(r.cfg.method == r.cfg.canonical().method for r in plan.runs.values())
    base = [r for r in plan.runs.values() if r.cfg.method.name == "baseline"]
    assert base and all(r.cfg.method.t_t == MethodConfig().t_t for r in base)


@pytest.mark.smoke
@pytest.mark.parametrize("method", ["baseline", "tsd", "ssd", "tssd"])
def test_canonicalised_fields_are_really_unused(tmp_path, tiny_cfg, method):
    """Changing every field a method's spec says it does not read leaves its numbers (and, since
    the fields took their place in MethodSpec, its config hash) unchanged."""
    from tssd.train import METRIC_COLUMNS, read_epochs, train

    common = dict(method__name=method, optim__epochs=1, runtime__deterministic=True)
    plain = tiny_cfg(**common)
    changed_fields = {
        "t_t": 6,
        "alpha": 0.3,
        "beta": 0.2,
        "kd_temperature": 5.0,
        "detach_teacher": False,
        "student_input": "reframe",
        "ssd_target": "student",
        "task_on_teacher": True,
        "teacher": "abc",
        "kd_weight": 0.5,
    }
    unread = METHODS[method].unread_fields()
    over = {f"method__{k}": v for k, v in changed_fields.items() if f"method.{k}" in unread}
    if "model.weak_head" in unread:
        over["model__weak_head"] = {"stage": "0", "channels": 4}
    changed = tiny_cfg(**common, **over)
    assert over and changed.to_dict() != plain.to_dict()
    # Before MethodSpec declared what it reads, only the harness dropped these fields and a config
    # built directly (python -m tssd train) hashed apart; semantic_dict now resets them itself.
    assert plain.hash() == changed.hash()
    train(plain, tmp_path / "a", progress=False)
    train(changed, tmp_path / "b", progress=False)
    ra, rb = read_epochs(tmp_path / "a"), read_epochs(tmp_path / "b")

    def cols(rows):  # exact: a deterministic run is bit-identical; NaN marks an unused term
        return {k: [None if r[k] != r[k] else r[k] for r in rows] for k in METRIC_COLUMNS}

    assert cols(ra) == cols(rb)


# Seed-0 runs of cells whose run directories are cached (results/runs/, the 20-seed quick runs):
# a refactor that moves one of these ids orphans hours of training. Written from the planner
# before method facts moved into MethodSpec (issue 11); every one of the 1542 ids of all shipped
# experiments x profiles was checked equal then.
# The tsd/tssd ids moved once, on purpose, when method.task_on_teacher became true (the
# reconstruction study): they are the ids those cells had with task_on_teacher=true set by hand
# (cached runs); every method that does not read the field kept its ids (UNREAD_HASH_VALUES).
KNOWN_RUN_IDS = [
    ("table1", "quick", {"method": "baseline", "dataset": "digits"}, "b60cb979391d"),
    ("table1", "quick", {"method": "tsd", "dataset": "digits"}, "4915db0261b7"),
    ("table1", "quick", {"method": "ssd", "dataset": "digits_dvs"}, "46459f705cbc"),
    ("table1", "quick", {"method": "tssd", "dataset": "digits_dvs"}, "36addfd5c281"),
    ("figure3", "quick", {"method": "baseline", "dataset": "digits"}, "b60cb979391d"),
    ("table5", "quick", {"method": "kd_ann"}, "eadf57388291"),
    # moved once, on purpose, when the small profile gained its validation split
    # (data.options.val_per_class: 500; no small record existed then)
    ("table1", "small", {"method": "tssd", "dataset": "fashion_dvs"}, "25a41e45ca19"),
    ("table1", "paper", {"method": "tssd", "dataset": "cifar10"}, "7e020173d947"),
    ("table6", "paper", {"method": "baseline", "dataset": "cifar10_dvs", "t_s": 1}, "9e9eb3d65dd4"),
]


@pytest.mark.parametrize("eid, profile, key, run_id", KNOWN_RUN_IDS)
def test_known_run_ids_do_not_move(eid, profile, key, run_id):
    plan = plan_of(eid, profile, seeds=[0])
    assert cell(plan, **key).runs == [run_id]
    if eid == "table5":
        assert cell(plan, **key).teachers == ["8b2067830dcb"]


JUNK = {
    "method.t_t": 17,
    "method.alpha": 0.125,
    "method.beta": 0.375,
    "method.kd_temperature": 7.5,
    "method.detach_teacher": False,
    "method.student_input": "reframe",
    "method.ssd_target": "student",
    "method.task_on_teacher": True,
    "method.teacher": "junk",
    "method.kd_weight": 0.75,
    "model.weak_head": {"stage": "0", "channels": 3},
}


@pytest.mark.parametrize("eid", ["table1", "table5", "figure3"])
def test_a_config_built_by_hand_hashes_like_the_harness(eid):
    """Junk in the fields a run's method does not read (``python -m tssd train --set
    method.alpha=0.1`` on a baseline) leaves its hash at the harness's run id."""
    plan = plan_of(eid, seeds=[0, 1])
    for rid, run in plan.runs.items():
        data = json.loads(json.dumps(run.config))
        unread = METHODS[data["method"]["name"]].unread_fields()
        for path in unread:
            section, key = path.split(".")
            data[section][key] = JUNK[path]
        data["name"], data["runtime"]["threads"] = "by-hand", 2
        cfg = from_dict(data, "by hand")
        assert cfg.hash() == rid
        by_hand = cfg.canonical().to_dict()
        by_hand["name"], by_hand["runtime"] = run.config["name"], run.config["runtime"]
        assert by_hand == run.config  # what the hash describes is what the harness planned
        if unread:
            assert cfg.to_dict() != run.config  # the junk is kept in the config, not hashed
