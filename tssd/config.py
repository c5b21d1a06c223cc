"""Run configuration: the composed config, YAML loading, ``--set`` overrides, validation, hashing.

A run is fully described by a :class:`RunConfig`. Every choice PAPER.md marks as ``[choice]`` is a
field of one of its sections with its documented default, so a user holding the paper can set the
paper's value without touching code. Unknown keys and bad values raise :class:`ConfigError`
naming the source file, the dotted key and what was expected.

Each subsystem owns the dataclass of its section: :class:`~tssd.methods.MethodConfig`,
:class:`~tssd.models.registry.ModelConfig`, :class:`~tssd.neurons.spec.NeuronSpec` and
:class:`~tssd.data.spec.DataConfig` live beside the declarations that read them;
:class:`OptimConfig`, :class:`EvalConfig` and :class:`RuntimeConfig` live here because their
readers, the trainer (:mod:`tssd.train`) and :mod:`tssd.runtime`'s helpers, need torch. This
module composes them, and nothing it imports imports it back (tests/test_imports.py). The sections
and :class:`ConfigError` (whose home is :mod:`tssd.errors`) are re-exported, so
``from tssd.config import MethodConfig`` works.

Building, validating and hashing a config imports no torch: every registry it asks (methods,
models, neuron backends, datasets) is a torch-free declaration whose torch code is imported when a
run is built (tests/test_torch_free.py).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tssd.data.spec import DATASETS, DataConfig, validate_data_config
from tssd.errors import ConfigError
from tssd.hashing import config_hash
from tssd.methods import METHODS, MethodConfig
from tssd.models.registry import MODELS, ModelConfig, WeakHeadConfig
from tssd.neurons import registry as neuron_registry
from tssd.neurons.spec import NeuronSpec
from tssd.plugins import load_plugins
from tssd.typed import Builder, parse_assignment, read_yaml_file, set_dotted

__all__ = [  # the sections and ConfigError are re-exported: their homes are below this module
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "MethodConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "RuntimeConfig",
    "WeakHeadConfig",
    "apply_overrides",
    "dump_yaml",
    "from_dict",
    "load_config",
    "load_yaml",
    "validate",
]


UNREAD_HASH_VALUES: dict[str, Any] = {"method.task_on_teacher": False}
"""The value a method-dependent field takes in the hash of a run whose method does not read it,
where that is not the field's default: the default it had when the run ids were fixed. Changing a
default then never moves the ids (the cached runs) of the methods that ignore the field
(``task_on_teacher`` became true after the reconstruction study; baseline and ssd runs keep
their ids)."""


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule ([recipe] defaults of PAPER.md)."""

    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: Literal["step", "cosine", "constant"] = "step"
    step_size: int = 30
    gamma: float = 0.1
    epochs: int = 100


@dataclass
class EvalConfig:
    """What is measured besides test accuracy at t_s."""

    timesteps: list[int] = field(default_factory=list)
    """Extra inference timesteps whose final test accuracy is recorded (table 6); a method with
    a teacher pass records its T_t as well (:meth:`RunConfig.extra_eval_timesteps`)."""
    firing_rates: bool = True
    """Record each spiking layer's mean firing rate on the test set after the last epoch."""
    every: int = 1
    """Measure test accuracy every N epochs (and always after the last); the other rows of
    epochs.csv leave it empty. Evaluating the 10,000 Fashion-MNIST test images costs about a
    third of a small-profile training epoch, so that profile measures every 5 (its Figure 5
    curves have that resolution)."""
    neurobench: bool = True
    """After the run, measure the deployed network with NeuroBench (:mod:`tssd.metrics`) into
    summary.json's ``neurobench``, when neurobench is installed. Not part of the config hash
    (measured after training, on the exported network: it changes no weight and no other
    metric); ``python -m tssd metrics RUN_DIR`` measures a finished run later."""
    neurobench_samples: int = 1000
    """NeuroBench measures the first N test images in the split's fixed order (0 = all). A
    NeuroBench pass costs about 5x a plain evaluation of the same images (4.5-5.5x measured on
    one thread; it runs every layer again on binarised copies); all 10,000 of the small
    profile's would cost about as much as training its baseline, 1,000 cost about 2 % of it (the
    quick profile's 360 are all measured). The number measured is recorded. Not part of the
    config hash."""
    energy_pj_per_ac: float = 0.9
    """Energy of one accumulate (pJ) for the energy estimate per inference (45 nm, Horowitz,
    ISSCC 2014). Not part of the config hash."""
    energy_pj_per_mac: float = 4.6
    """Energy of one multiply-accumulate (pJ), as ``energy_pj_per_ac``."""


@dataclass
class RuntimeConfig:
    """How a run executes. These fields do not change what is computed, so they are excluded from
    the config hash (a run cached on one device is reused on another).
    """

    device: str = "auto"
    """auto | cpu | cuda | cuda:N."""
    deterministic: bool = False
    """Set torch's determinism flags for the run and restore them afterwards."""
    num_workers: int = 0
    threads: int = 0
    """torch intra-op threads; 0 = auto: the cores this process may use, shared among the runs
    the harness executes at once, less those other processes keep busy
    (:func:`tssd.host.auto_threads`)."""
    progress: bool = True
    checkpoint_every: int = 1
    """Write a checkpoint every N epochs (and always after the last)."""
    amp: Literal["none", "bf16"] = "none"
    """bf16 autocast of the forward pass (for GPU runs; recorded in every summary)."""
    channels_last: bool = False
    """channels-last memory format for the convolutions (for GPU runs; recorded)."""
    runs_root: str = "runs"
    """Where a teacher given by config hash is looked up (``<runs_root>/<hash>/``)."""
    compile: bool = False
    """Compile the training step (network, loss and backward) with ``torch.compile``; the native
    LIF then runs as one generated kernel each way (:mod:`tssd.neurons.compiled`). The first
    steps pay the compilation: cold (nothing cached) tens of seconds to minutes on CPU, warm
    (``compile_cache`` holds the graphs) a few seconds. Not part of the config hash: a compiled
    step rounds its convolutions and batch norms differently from the eager one, which changes a
    trajectory the way another CPU or thread count does, and the suite treats all of them as
    fresh draws of the same run (the regression check's test; summary.json records ``compile``)."""
    compile_cache: str = ""
    """Directory of inductor's on-disk compile caches (FX graphs, AOTAutograd, generated kernels),
    shared by every run that names it, so each distinct graph compiles cold once. Empty: torch's
    default (``$TORCHINDUCTOR_CACHE_DIR``, else a folder under the system's temp directory). The
    harness sets ``<results>/runs/.compile-cache``. The caches go to a subfolder named after our
    autograd.Functions' source (:func:`tssd.runtime.use_compile_cache`), where AOTAutograd may
    cache graphs that hold them. Not part of the config hash."""


@dataclass
class RunConfig:
    """One training run: everything that determines its result."""

    name: str = "run"
    seed: int = 0
    method: MethodConfig = field(default_factory=MethodConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    neuron: NeuronSpec = field(default_factory=NeuronSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    # ---- derived views -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of every field (YAML/JSON serialisable)."""
        return dataclasses.asdict(self)

    def semantic_dict(self) -> dict[str, Any]:
        """The fields that determine the result, which :meth:`hash` hashes: all but ``name``,
        ``runtime``, ``data.root``, ``neuron.native_impl``, ``eval.every`` and the NeuroBench
        settings (:data:`NOT_HASHED_EVAL`): where the data lives, how the run executes, when and
        what is measured beside training; none changes a weight or a final metric
        (tests/test_fused.py, tests/test_compiled_lif.py, tests/test_train.py). The fields the
        method does not read are reset to their defaults (:meth:`canonical`), not dropped, so
        they never split a run id and older run ids stay valid; a field added later is dropped
        at its default (:data:`ADDED_FIELDS`) for the same reason.
        """
        d = self.canonical().to_dict()
        d.pop("name")
        d.pop("runtime")
        d["data"].pop("root", None)
        d["neuron"].pop("native_impl", None)
        for key in ("every", *NOT_HASHED_EVAL):
            d["eval"].pop(key, None)
        for path, default in ADDED_FIELDS.items():  # at their default, older run ids hold
            *parents, key = path.split(".")
            node = functools.reduce(dict.__getitem__, parents, d)
            if node[key] == default:
                node.pop(key)
        return d

    def canonical(self) -> RunConfig:
        """A copy with the fields the method does not read at their defaults (the config the
        hash describes; a method not registered keeps every field)."""
        spec = METHODS.get(self.method.name)
        out = copy.deepcopy(self)
        for path in spec.unread_fields() if spec is not None else ():
            section, key = path.split(".")
            default = getattr(_DEFAULT_SECTIONS[section], key)
            default = copy.deepcopy(UNREAD_HASH_VALUES.get(path, default))
            setattr(getattr(out, section), key, default)
        return out

    def validate(self, source: str = "<config>") -> None:
        """The cross-field checks and registry look-ups of :func:`validate`; raises
        :class:`ConfigError`."""
        validate(self, source)

    def hash(self) -> str:
        """Stable 12-hex-digit hash of :meth:`semantic_dict` (the run cache key)."""
        return config_hash(self.semantic_dict())

    def timesteps_needed(self) -> tuple[int, ...]:
        """The framings of the input a run needs (event data is framed once per T): those its
        method's step needs (:meth:`tssd.methods.MethodSpec.timesteps`: t_s, and t_t for a
        method with a teacher pass) and every extra evaluation timestep."""
        return tuple(
            sorted({*METHODS[self.method.name].timesteps(self.method), *self.eval.timesteps})
        )

    def extra_eval_timesteps(self) -> tuple[int, ...]:
        """The timestep counts whose final test accuracy a run records besides T_s: every
        ``eval.timesteps`` and every other count its method trains at (a teacher's T_t, so that
        Figure 3's teacher is measured in the records, not re-evaluated from a checkpoint)."""
        trained = set(self.timesteps_needed()) - {self.method.t_s}
        return tuple(sorted({*self.eval.timesteps, *trained}))


NOT_HASHED_EVAL = ("neurobench", "neurobench_samples", "energy_pj_per_ac", "energy_pj_per_mac")
"""The NeuroBench settings (:class:`EvalConfig`): what is measured after training, on the
exported network; no weight and no other metric depends on them."""

ADDED_FIELDS = {"model.weak_head.fraction": 0.0}
"""Fields added after runs were recorded, with their defaults: a run at the default hashes as
it did before the field existed (:meth:`RunConfig.semantic_dict`)."""

_DEFAULT_SECTIONS = {"method": MethodConfig(), "model": ModelConfig()}
"""Where :meth:`RunConfig.canonical` takes the default of a field a method does not read."""


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


MAX_TIMESTEPS = 1024
"""Most timesteps a command line accepts (``evaluate --timesteps``, ``data stats --timesteps``)."""


def parse_timesteps(text: str, flag: str = "--timesteps") -> tuple[int, ...]:
    """``"5,7,10"`` -> ``(5, 7, 10)``, in the given order without repeats; ``""`` -> ``()``.

    Raises:
        ConfigError: naming ``flag``, what it got and what was expected.
    """
    expected = f"expected comma-separated integers in 1..{MAX_TIMESTEPS}, e.g. 2,4"
    try:
        steps = tuple(dict.fromkeys(int(t) for t in text.split(",") if t.strip()))
    except ValueError:
        raise ConfigError(f"{flag}: got {text!r}, {expected}") from None
    if (text.strip() and not steps) or any(not 1 <= t <= MAX_TIMESTEPS for t in steps):
        raise ConfigError(f"{flag}: got {text!r}, {expected}")
    return steps


MAX_EXTENDS = 16
"""Longest chain of ``extends:`` followed (the suite's configs use at most 2)."""


def load_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML mapping, following ``extends: other.yaml`` (relative to the file) recursively.

    The file is read by :func:`tssd.typed.read_yaml_file` (duplicate keys, aliases, dates, empty
    or binary files refused); an ``extends`` that is not one file name, that names a file of the
    chain again (a cycle, the file itself) or that is over :data:`MAX_EXTENDS` long is refused.
    """
    path = Path(path)
    data = read_yaml_file(path, ConfigError, "config file")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        raise ConfigError(
            f"{path}: key 'extends': got {parent!r}, expected one file name (relative to {path})"
        )
    base = path.parent / parent
    chain = (*_chain, path.resolve())
    if base.resolve() in chain:
        cycle = " -> ".join(str(p) for p in (*chain, base.resolve()))
        raise ConfigError(f"{path}: key 'extends': {parent!r} closes a cycle ({cycle})")
    if len(chain) >= MAX_EXTENDS:
        raise ConfigError(f"{path}: key 'extends': more than {MAX_EXTENDS} files deep")
    if not base.is_file() and not base.is_dir():
        raise ConfigError(f"{path}: key 'extends': {base} not found")
    return _deep_merge(load_yaml(base, chain), data)


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "--set") -> dict:
    """Apply ``key.sub=value`` overrides to a copy of a nested dict (values parsed as YAML)."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        key, value = parse_assignment(item, ConfigError, source)
        try:
            set_dotted(data, key, value, ConfigError)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return data


def _stage_as_text(data: Any) -> Any:
    """``model.weak_head.stage: 1`` (an index, as documented) as the string ``'1'`` the field
    holds, so that both spellings build (and hash) alike."""
    model = data.get("model") if isinstance(data, dict) else None
    head = model.get("weak_head") if isinstance(model, dict) else None
    stage = head.get("stage") if isinstance(head, dict) else None
    if not isinstance(stage, int) or isinstance(stage, bool):
        return data
    return {**data, "model": {**model, "weak_head": {**head, "stage": str(stage)}}}


def from_dict(data: dict[str, Any], source: str = "<config>", *, check: bool = True) -> RunConfig:
    """Build and validate a :class:`RunConfig` from a nested dict. With ``check=False`` only the
    keys and their types are checked, no registry is asked: a config naming a method or dataset
    this checkout lacks still builds, and :meth:`RunConfig.validate` checks it later (the
    harness plans such a run as not runnable here)."""
    cfg = Builder(source, ConfigError).build(RunConfig, _stage_as_text(data))
    if check:
        validate(cfg, source)
    return cfg


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Load a run config from YAML (or defaults when ``path`` is None) plus ``--set`` overrides."""
    data = load_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    if overrides:
        data = apply_overrides(data, overrides)
        source += " (with --set overrides)"
    return from_dict(data, source)


def validate(cfg: RunConfig, source: str = "<config>") -> None:
    """Cross-field checks and registry look-ups (plugins loaded first, :mod:`tssd.plugins`);
    raises :class:`ConfigError`."""

    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"{source}: key '{key}': {msg}")

    load_plugins()
    m = cfg.method
    if m.name not in METHODS:
        fail("method.name", f"unknown method {m.name!r}; allowed: {', '.join(METHODS)}")
    spec = METHODS[m.name]
    if m.t_s < 1:
        fail("method.t_s", f"got {m.t_s}, expected an integer >= 1")
    if spec.uses_teacher_steps and m.t_t <= m.t_s:
        fail("method.t_t", f"got {m.t_t}, expected an integer > method.t_s ({m.t_s}) for {m.name}")
    if spec.uses_external_teacher and not m.teacher:
        fail(
            "method.teacher",
            f"{m.name} needs a teacher: a run's config hash or a path to inference.pt",
        )
    for k in ("alpha", "beta", "kd_weight"):
        if getattr(m, k) < 0:
            fail(f"method.{k}", f"got {getattr(m, k)}, expected a number >= 0")
    if m.kd_temperature <= 0:
        fail("method.kd_temperature", f"got {m.kd_temperature}, expected a number > 0")
    if cfg.model.name not in MODELS:
        fail("model.name", f"unknown model {cfg.model.name!r}; allowed: {', '.join(MODELS)}")
    stage = cfg.model.weak_head.stage
    if stage != "middle" and not stage.isdigit():
        fail("model.weak_head.stage", f"got {stage!r}, expected 'middle' or a stage index")
    neuron_registry.validate_spec(cfg.neuron, key_prefix="neuron", source=source)
    if cfg.data.name not in DATASETS:
        fail(
            "data.name",
            f"unknown dataset {cfg.data.name!r}; allowed: {', '.join(DATASETS)}",
        )
    try:  # options and split rule, from the dataset's spec, checked without touching the disk
        validate_data_config(cfg.data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    d, o, r = cfg.data, cfg.optim, cfg.runtime
    heads, fraction = cfg.model.weak_head.channels, cfg.model.weak_head.fraction
    dev = r.device
    # (key, value, whether it is out of range, what is expected), checked in this order
    ranges = [
        ("seed", cfg.seed, not 0 <= cfg.seed < 2**32, "an integer in 0..2^32-1"),
        ("data.batch_size", d.batch_size, d.batch_size < 1, "an integer >= 1"),
        ("data.test_batch_size", d.test_batch_size, d.test_batch_size < 1, "an integer >= 1"),
        ("data.size", d.size, d.size < 0, "an integer >= 0 (0 = the default)"),
        ("model.width", cfg.model.width, cfg.model.width < 0, "an integer >= 0 (0 = the default)"),
        ("model.weak_head.channels", heads, heads < 0, ">= 0"),
        (
            "model.weak_head.fraction",
            fraction,
            not 0.0 <= fraction < 1.0 or (fraction and heads),
            f"a number in [0, 1) (0: all channels), and 0 while model.weak_head.channels is set "
            f"(it is {heads})",
        ),
        ("optim.lr", o.lr, o.lr <= 0, "a number > 0"),
        ("optim.epochs", o.epochs, o.epochs < 1, "an integer >= 1"),
        ("optim.weight_decay", o.weight_decay, o.weight_decay < 0, "a number >= 0"),
        ("optim.momentum", o.momentum, o.momentum < 0, "a number >= 0"),
        ("optim.step_size", o.step_size, o.step_size < 1, "an integer >= 1"),
        ("optim.gamma", o.gamma, o.gamma <= 0, "a number > 0"),
        ("eval.every", cfg.eval.every, cfg.eval.every < 1, "an integer >= 1"),
        (
            "eval.timesteps",
            cfg.eval.timesteps,
            any(t < 1 for t in cfg.eval.timesteps),
            "integers >= 1",
        ),
        (
            "eval.neurobench_samples",
            cfg.eval.neurobench_samples,
            cfg.eval.neurobench_samples < 0,
            "an integer >= 0 (0 = every test image)",
        ),
        (
            "eval.energy_pj_per_ac",
            cfg.eval.energy_pj_per_ac,
            cfg.eval.energy_pj_per_ac < 0,
            "a number >= 0 (pJ)",
        ),
        (
            "eval.energy_pj_per_mac",
            cfg.eval.energy_pj_per_mac,
            cfg.eval.energy_pj_per_mac < 0,
            "a number >= 0 (pJ)",
        ),
        (
            "runtime.device",
            repr(dev),
            dev not in ("auto", "cpu", "cuda") and not dev.startswith("cuda:"),
            "auto, cpu, cuda or cuda:N",
        ),
        ("runtime.checkpoint_every", r.checkpoint_every, r.checkpoint_every < 1, "an integer >= 1"),
        (  # bounded: each is a thread or a process started
            "runtime.threads",
            r.threads,
            not 0 <= r.threads <= 1024,
            "an integer >= 0 and <= 1024 (0 = torch's default)",
        ),
        (
            "runtime.num_workers",
            r.num_workers,
            not 0 <= r.num_workers <= 256,
            "an integer >= 0 and <= 256",
        ),
    ]
    for key, value, out_of_range, expected in ranges:
        if out_of_range:
            fail(key, f"got {value}, expected {expected}")


def dump_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML (what a run directory records as ``config.yaml``)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
