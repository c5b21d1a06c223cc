"""Every input handled (issue 18): property-based tests of what users type and write.

Hypothesis generates run-config YAML (structured documents over the real keys and raw text full
of YAML syntax), ``--set`` overrides, experiment and profile YAML, and argument lists of both
command lines. Every input must end in success or in one line on stderr naming the file, key or
flag, with exit status 2 (3 for a run that failed): never a traceback, never exit status 1.

The default tier runs a short budget (:data:`SHORT`, a few seconds each); ``pytest -m fuzz``
runs the long one (:data:`LONG`) and prints how many examples each property tried.
"""

from __future__ import annotations

import contextlib
import io
import string
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import cli as bench_cli
from bench.plan.schema import SpecError, load_experiment, load_profile
from tssd import cli as tssd_cli

SHORT = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LONG = settings(SHORT, max_examples=2000)
COUNTS: dict[str, int] = {}
"""Examples tried per property (the long run prints them)."""

CONFIG_KEYS = {
    "seed": None,
    "name": None,
    "extends": None,
    "method": ["name", "t_s", "t_t", "alpha", "beta", "kd_temperature", "detach_teacher"],
    "model": ["name", "width", "weak_head"],
    "neuron": ["backend", "tau", "theta", "reset", "surrogate", "surrogate_width"],
    "data": ["name", "root", "batch_size", "size", "split", "options", "augment"],
    "optim": ["name", "lr", "epochs", "schedule", "step_size", "gamma"],
    "eval": ["timesteps", "every", "firing_rates"],
    "runtime": ["device", "threads", "num_workers", "checkpoint_every", "amp"],
}
DOTTED = [f"{s}.{k}" for s, ks in CONFIG_KEYS.items() if ks for k in ks] + [
    "seed",
    "model.weak_head.stage",
    "model.weak_head.channels",
    "model.weak_head.fraction",
    "data.options.val_per_class",
    "data.options.expect",
    "nosuch.key",
    "method..alpha",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["tssd", "baseline", "micro_cnn", "digits", "middle", "1", "auto", "1e-3"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def config_documents(draw) -> dict:
    """A run config over the real keys, with values of every type (sections sometimes scalars)."""
    doc: dict = {}
    for section in draw(st.lists(st.sampled_from(sorted(CONFIG_KEYS)), max_size=4, unique=True)):
        keys = CONFIG_KEYS[section]
        if not keys or draw(st.integers(0, 9)) == 0:
            doc[section] = draw(values)
            continue
        doc[section] = {
            k: draw(values) for k in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
        }
    return doc


YAML_NOISE = string.ascii_letters[:6] + string.digits + " :-[]{},&*!|>#'\"\n\t.%@~?="
raw_yaml = st.one_of(
    st.text(alphabet=YAML_NOISE, max_size=80),
    st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(
            [
                "method:\n  name: tssd\n",
                "a: &x [1, 2]\nb: *x\n",
                "seed: 1\nseed: 2\n",
                "seed: 2024-01-01\n",
                "data: !!set {a, b}\n",
                "optim: {lr: !!binary aGVsbG8=}\n",
                "extends: [a.yaml]\n",
                "---\n",
                "",
            ]
        ),
        st.text(alphabet=YAML_NOISE, max_size=30),
    ),
)


def call(main, argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured; argparse's exit is a status too."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str, *names: str) -> None:
    """Success, or one line on stderr (naming one of ``names`` when given) with status 2 or 3."""
    assert "Traceback" not in err, err
    if code == 0:
        return
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code in (2, 3), (code, err)
    assert len(lines) == 1, err
    if names:
        assert any(n in lines[0] for n in names), (names, lines[0])


def count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


# ---- run configs: YAML files and --set ---------------------------------------------------------


def check_config_file(tmp: Path, text: str | bytes, name: str) -> None:
    count(name)
    path = tmp / "run.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    code, _, err = call(tssd_cli.main, ["config", str(path)])
    assert_clean(code, err, str(path))


def check_overrides(items: list[str]) -> None:
    count("set")
    argv = ["config"]
    for item in items:
        argv += ["--set", item]
    code, _, err = call(tssd_cli.main, argv)
    assert_clean(code, err, "--set", "<defaults>")


def _config_from_documents(tmp_path_factory, doc):
    tmp = tmp_path_factory.mktemp("cfg")
    check_config_file(tmp, yaml.safe_dump(doc, allow_unicode=True), "config-document")


def _config_from_text(tmp_path_factory, text):
    check_config_file(tmp_path_factory.mktemp("cfg"), text, "config-text")


def _config_from_bytes(tmp_path_factory, blob):
    check_config_file(tmp_path_factory.mktemp("cfg"), blob, "config-bytes")


set_items = st.lists(
    st.builds(
        lambda k, sep, v: f"{k}{sep}{v}",
        st.sampled_from(DOTTED) | st.text(max_size=8),
        st.sampled_from(["=", "=", ":", ""]),
        st.text(alphabet=YAML_NOISE, max_size=20)
        | values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
    ),
    min_size=1,
    max_size=4,
)


# ---- experiment and profile YAML ---------------------------------------------------------------

EXPERIMENT = (Path(__file__).parent.parent / "bench" / "experiments" / "table2.yaml").read_text()
PROFILE = (Path(__file__).parent.parent / "bench" / "profiles" / "quick.yaml").read_text()


@st.composite
def mutated(draw, text: str) -> str:
    """A real harness file with a few lines replaced, deleted or duplicated."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["replace", "delete", "duplicate", "value"]))
        if op == "replace":
            lines[i] = draw(st.text(alphabet=YAML_NOISE, max_size=30))
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            dumped = yaml.safe_dump(draw(values), default_flow_style=True).strip()
            lines[i] = f"{key}: {dumped.removesuffix('...').strip()}"
        if not lines:
            break
    return "\n".join(lines) + "\n"


def check_harness_file(tmp: Path, text: str, stem: str, load) -> None:
    count(stem)
    path = tmp / f"{stem}.yaml"
    path.write_text(text)
    try:
        load(path)
    except SpecError as exc:
        assert "\n" not in str(exc).strip() or "not valid YAML" in str(exc), str(exc)
        assert str(path.name) in str(exc), str(exc)


# ---- argument lists ----------------------------------------------------------------------------

junk = st.text(alphabet=string.ascii_letters + string.digits + "-,. =/", max_size=10)
bench_options = st.lists(
    st.one_of(
        st.tuples(st.just("--seeds"), junk | st.just("") | st.just("0,0") | st.just("1,2")),
        st.tuples(st.just("--workers"), junk | st.integers(-3, 5000).map(str)),
        st.tuples(st.just("--threads"), st.integers(-3, 5000).map(str)),
        st.tuples(st.just("--profile"), st.sampled_from(["quick", "small", "nope", ""])),
        st.tuples(st.just("--set"), set_items.map(lambda x: x[0])),
        st.tuples(st.just("--log-every"), st.sampled_from(["0", "-1", "nan", "inf", "5", "x"])),
        st.tuples(st.sampled_from(["--bogus", "--force", "--verbose", "-x"])),
    ),
    max_size=4,
)


def check_bench_argv(results: Path, command: list[str], options) -> None:
    count("bench-argv")
    argv = list(command)
    for opt in options:
        argv += list(opt)
    if command[0] == "run":
        argv.append("--dry-run")
    argv += ["--results", str(results)]
    code, _, err = call(bench_cli.main, argv)
    assert_clean(code, err)
    if command[0] == "run" and code == 0:
        assert not (results / "runs").exists() or not any((results / "runs").iterdir())


tssd_argv = st.one_of(
    st.tuples(st.just("evaluate"), junk, st.sampled_from(["--timesteps", "--threads"]), junk),
    st.tuples(st.just("export"), junk, st.just("--out"), junk),
    st.tuples(st.just("data"), st.just("check"), st.just("--data-root"), junk),
    st.tuples(st.just("data"), st.just("check"), st.sampled_from(["--only", "--require"]), junk),
    st.tuples(st.sampled_from(["train", "config", "nope", "--help-me"]), junk),
)


def check_tssd_argv(tmp: Path, argv) -> None:
    count("tssd-argv")
    argv = [a.replace("/", str(tmp) + "/", 1) if a.startswith("/") else a for a in argv]
    if argv[0] == "train":  # never train: a config that would is checked by `config`
        argv[0] = "config"
    if argv[:2] == ["data", "check"] and "--data-root" not in argv:
        argv += ["--data-root", str(tmp)]
    code, _, err = call(tssd_cli.main, argv)
    if argv[:2] == ["data", "check"] and code == 1:  # a dataset incomplete: its documented code
        return
    assert_clean(code, err)


# ---- the properties at the short budget (the default tier) ------------------------------------


@SHORT
@given(doc=config_documents())
def test_config_documents(tmp_path_factory, doc):
    _config_from_documents(tmp_path_factory, doc)


@SHORT
@given(text=raw_yaml)
def test_config_text(tmp_path_factory, text):
    _config_from_text(tmp_path_factory, text)


@SHORT
@given(blob=st.binary(max_size=64))
def test_config_bytes(tmp_path_factory, blob):
    _config_from_bytes(tmp_path_factory, blob)


@SHORT
@given(items=set_items)
def test_set_overrides(items):
    check_overrides(items)


@SHORT
@given(text=mutated(EXPERIMENT))
def test_experiment_yaml(tmp_path_factory, text):
    check_harness_file(tmp_path_factory.mktemp("exp"), text, "table2", load_experiment)


@SHORT
@given(text=mutated(PROFILE))
def test_profile_yaml(tmp_path_factory, text):
    check_harness_file(tmp_path_factory.mktemp("prof"), text, "quick", load_profile)


@SHORT
@given(
    command=st.sampled_from([["run", "table2"], ["claims"], ["list"], ["run", "nope"]]),
    options=bench_options,
)
def test_bench_arguments(tmp_path_factory, command, options):
    check_bench_argv(tmp_path_factory.mktemp("res"), command, options)


@SHORT
@given(argv=tssd_argv)
def test_tssd_arguments(tmp_path_factory, argv):
    check_tssd_argv(tmp_path_factory.mktemp("t"), argv)


# ---- the long budget: pytest -m fuzz -s --------------------------------------------------------


def _long(check, **strategies) -> None:
    """Run ``check`` at the long budget over ``strategies``."""
    LONG(given(**strategies)(check))()


@pytest.mark.fuzz
def test_long_budget(tmp_path_factory):
    """Every property above at :data:`LONG` examples; prints the count each tried."""
    COUNTS.clear()
    tmp = tmp_path_factory

    def document(arg):
        _config_from_documents(tmp, arg)

    def text(arg):
        _config_from_text(tmp, arg)

    def blob(arg):
        _config_from_bytes(tmp, arg)

    def experiment(arg):
        check_harness_file(tmp.mktemp("h"), arg, "table2", load_experiment)

    def profile(arg):
        check_harness_file(tmp.mktemp("h"), arg, "quick", load_profile)

    def bench(command, options):
        check_bench_argv(tmp.mktemp("res"), command, options)

    def tssd(argv):
        check_tssd_argv(tmp.mktemp("t"), argv)

    _long(document, arg=config_documents())
    _long(text, arg=raw_yaml)
    _long(blob, arg=st.binary(max_size=64))
    _long(check_overrides, items=set_items)
    _long(experiment, arg=mutated(EXPERIMENT))
    _long(profile, arg=mutated(PROFILE))
    commands = st.sampled_from([["run", "table2"], ["claims"], ["list"], ["run", "nope"]])
    _long(bench, command=commands, options=bench_options)
    _long(tssd, argv=tssd_argv)
    print("\nexamples tried: " + ", ".join(f"{k} {v}" for k, v in COUNTS.items()), file=sys.stderr)
    assert all(v >= LONG.max_examples // 2 for v in COUNTS.values()), COUNTS
