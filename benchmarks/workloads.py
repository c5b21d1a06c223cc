"""What the benchmark suite times: LIF layers, training steps and their inputs.

Each builder returns a zero-argument callable that does one unit of work (a forward+backward, one
training step); the tests hand it to the ``measure`` fixture (benchmarks/conftest.py), which times
it with pytest-benchmark and records its peak memory.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tssd.config import MethodConfig, WeakHeadConfig
from tssd.methods import METHODS, StepContext
from tssd.models import WeakClassifier, build_model
from tssd.neurons import NeuronSpec, make_neuron
from tssd.neurons.registry import BackendUnavailable, neuron_class
from tssd.train import StepModule

BACKENDS: dict[str, dict] = {
    "native-fused": {"backend": "native", "native_impl": "fused"},
    "native-loop": {"backend": "native", "native_impl": "loop"},
    "spikingjelly": {"backend": "spikingjelly"},
    "snntorch": {"backend": "snntorch"},
}
"""The neuron implementations a network runs on eagerly (the NeuronSpec fields of each)."""

OTHER_BACKENDS = ("spikingjelly", "snntorch")

LAYERS = (
    "relu",
    "relu-compiled",
    "native-fused",
    "native-loop",
    "native-compiled",
    "spikingjelly",
    "snntorch",
)
"""One layer's forward+backward: a ReLU (eager and under torch.compile), the native LIF's three
forms (``native-compiled``: ``native_impl: compiled`` under torch.compile, the compiled op) and the
two other libraries."""


def unavailable(name: str) -> str | None:
    """None when the library behind a candidate is installed, else why it is not."""
    fields = BACKENDS.get(name)
    if fields is None:
        return None
    try:
        neuron_class(fields["backend"])
    except BackendUnavailable as exc:
        return str(exc)
    return None


def spec_of(name: str) -> NeuronSpec:
    """The NeuronSpec of a backend name of :data:`BACKENDS`."""
    return NeuronSpec(**BACKENDS[name])


def compiled(fn: Callable, *, fullgraph: bool = False) -> Callable:
    """``torch.compile`` as the suite uses it: inductor, static shapes (one shape per test)."""
    return torch.compile(fn, fullgraph=fullgraph, dynamic=False)


# ---- one LIF layer ------------------------------------------------------------------------------


def layer_input(
    shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer input ``[T, ...]`` (about a third of it above threshold) and an output gradient."""
    g0 = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g0, dtype=dtype) * 0.8 + 0.4).to(device).requires_grad_()
    g = torch.randn(shape, generator=g0, dtype=dtype).to(device)
    return x, g


def make_layer(name: str, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """The layer of a :data:`LAYERS` candidate (compiled ones compile on their first call)."""
    if name == "relu":
        return torch.relu
    if name == "relu-compiled":
        return compiled(torch.relu, fullgraph=True)
    if name == "native-compiled":
        layer = make_neuron(NeuronSpec(native_impl="compiled")).to(device)
        return compiled(layer, fullgraph=True)
    return make_neuron(spec_of(name)).to(device)


def layer_step(
    layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor
) -> Callable[[], None]:
    """One forward+backward of ``layer`` on ``x`` with output gradient ``g``.

    The previous ``x.grad`` is dropped first: the call allocates its own (as a training step
    does), and the peak-memory helper counts it.
    """

    def run() -> None:
        x.grad = None
        layer(x).backward(g)

    return run


# ---- training steps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Net:
    """A network and its input as a training run builds them."""

    model: str
    width: int
    in_channels: int
    size: int
    kind: str  # static | event
    t_s: int
    t_t: int
    optimizer: str  # sgd | adamw
    num_classes: int = 10


NETS: dict[str, Net] = {
    # the quick profile's network on 8x8 digits (SGD, as the quick runs)
    "micro": Net("micro_cnn", 0, 1, 8, "static", t_s=4, t_t=8, optimizer="sgd"),
    # bench/profiles/small.yaml: VGG-9 width 16 on Fashion-MNIST at 16x16, T_s = 2 (TSSD: T_t = 4)
    "small-static": Net("vgg9", 16, 1, 16, "static", t_s=2, t_t=4, optimizer="adamw"),
    # ... and width 8 on the emulated event frames (2 polarities), T_s = 5 (TSSD: T_t = 10)
    "small-event": Net("vgg9", 8, 2, 16, "event", t_s=5, t_t=10, optimizer="adamw"),
    # the paper's CIFAR network (GPU section): ResNet-19 at 32x32, T = 4
    "resnet19": Net("resnet19", 0, 3, 32, "static", t_s=4, t_t=8, optimizer="sgd"),
}


def net_batch(net: Net, method: str, t_s: int, t_t: int, batch: int, device: torch.device):
    """Synthetic inputs of the net's shape: images in [0, 2) (static) or, for event data, one
    framing ``[B, T, C, H, W]`` of small spike counts per timestep count the method reads."""
    gen = torch.Generator().manual_seed(1)
    y = torch.randint(0, net.num_classes, (batch,), generator=gen).to(device)
    shape = (net.in_channels, net.size, net.size)
    if net.kind == "static":
        return (torch.rand(batch, *shape, generator=gen) * 2).to(device), y
    timesteps = METHODS[method].timesteps(MethodConfig(name=method, t_s=t_s, t_t=t_t))
    frames = {
        t: torch.randint(0, 3, (batch, t, *shape), generator=gen).float().to(device)
        for t in timesteps
    }
    return frames, y


def train_step(
    net: Net,
    spec: NeuronSpec,
    method: str,
    batch: int,
    device: torch.device,
    *,
    t_s: int | None = None,
    t_t: int | None = None,
    compile_step: bool = False,
    amp: bool = False,
) -> Callable[[], None]:
    """One training step of ``method`` as tssd/train.py runs it: the method's step (network,
    weak head if used, loss terms) in a :class:`~tssd.train.StepModule`, compiled as a whole with
    ``runtime.compile`` (backward through AOTAutograd; the native LIF then takes its compiled
    form by itself), then ``zero_grad``, ``backward`` and the optimizer step (eager)."""
    t_s, t_t = t_s or net.t_s, t_t or net.t_t
    torch.manual_seed(0)
    model = build_model(
        net.model,
        num_classes=net.num_classes,
        in_channels=net.in_channels,
        input_size=net.size,
        neuron=spec,
        width=net.width,
    )
    m = METHODS[method]
    stage = model.resolve_stage(WeakHeadConfig().stage) if m.uses_weak_head else None
    head = (
        WeakClassifier(model.stage_channels[stage], net.num_classes, spec)
        if m.uses_weak_head
        else None
    )
    ctx = StepContext(model, head, MethodConfig(name=method, t_s=t_s, t_t=t_t), stage, net.kind)
    module = StepModule(model, head, m.step, ctx).to(device)
    runner = torch.compile(module, dynamic=False) if compile_step else module
    params = [p for p in module.parameters() if p.requires_grad]
    if net.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    else:
        opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
    x, y = net_batch(net, method, t_s, t_t, batch, device)

    def run() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, _terms, _student = runner(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return run


# ---- spikingjelly on the GPU --------------------------------------------------------------------


def spikingjelly_gpu_kernels(
    device: torch.device,
) -> dict[str, tuple[str, Callable[[], torch.nn.Module]]]:
    """The GPU implementations of spikingjelly's multi-step LIF: ``{name: (what runs, layer
    factory)}``.

    spikingjelly 2.x (the pinned 2.0.0) has no ``backend=`` argument: on CUDA it picks its own
    kernels (its CUDA extension, else Triton, else torch; ``SJ_LIF_CUDA_IMPLEMENTATION``, read
    when the library is imported, forces one), so ``spikingjelly`` is the adapter's layer and
    its note says which implementation ran. Older releases (0.0.0.0.14) take
    ``backend="cupy"``: offered as ``spikingjelly-cupy`` when that argument exists and cupy
    imports.
    """
    from spikingjelly.activation_based import neuron as sj_neuron

    try:
        from spikingjelly.activation_based.functional import neuron_implementation

        impl = neuron_implementation("lif", device)["implementation"]
    except (ImportError, AttributeError, KeyError, RuntimeError, ValueError) as exc:
        impl = f"its automatic choice ({type(exc).__name__} asking which)"
    out = {
        "spikingjelly": (
            f"spikingjelly's GPU LIF ran: {impl}",
            lambda: make_neuron(spec_of("spikingjelly")).to(device),
        )
    }
    if "backend" in inspect.signature(sj_neuron.LIFNode.__init__).parameters:
        try:
            import cupy  # noqa: F401
        except ImportError:
            return out
        from tssd.neurons.spikingjelly import SpikingJellyLIF

        def cupy_layer() -> torch.nn.Module:
            layer = SpikingJellyLIF(spec_of("spikingjelly"))
            layer.node.backend = "cupy"
            return layer.to(device)

        out["spikingjelly-cupy"] = ("spikingjelly's cupy backend", cupy_layer)
    return out
