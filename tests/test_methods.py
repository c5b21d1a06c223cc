"""The four training methods: one-pass student/teacher, gradient flow, the weak head."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tssd.config import MethodConfig
from tssd.methods import METHODS, StepContext
from tssd.models import WeakClassifier, build_model, count_macs, count_params, encode_static
from tssd.neurons import NeuronSpec

pytestmark = pytest.mark.unit


def net(seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(
        "micro_cnn", num_classes=10, in_channels=1, input_size=8, neuron=NeuronSpec(), width=8, **kw
    )


def batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g) * 2, torch.randint(0, 10, (n,), generator=g)


def test_one_pass_student_equals_separate_ts_run_for_static_input():
    model = net()
    x, _ = batch()
    with torch.no_grad():
        for _ in range(20):  # running BN statistics of real activity, so the net spikes in eval
            model(encode_static(x, 4))
        model.eval()
        long = model(encode_static(x, 4)).logits
        short = model(encode_static(x, 2)).logits
    # Same weights, same input, causal neuron: the first 2 of 4 steps are the 2-step run. The only
    # difference allowed is float summation order of a conv over a batch of 4*B vs 2*B samples.
    assert torch.allclose(long[:2], short, atol=1e-6, rtol=0)
    assert (long[2:] != long[:2]).any()  # the extra steps do carry different outputs


class Recorder(nn.Module):
    """Wraps a model and keeps its per-step logits with their gradient."""

    def __init__(self, model):
        super().__init__()
        self.model, self.logits = model, None

    def forward(self, x, feature_stage=None):
        out = self.model(x, feature_stage)
        out.logits.retain_grad()
        self.logits = out.logits
        return out


def _tsd_logit_grad(**method):
    rec = Recorder(net())
    ctx = StepContext(rec, None, MethodConfig(name="tsd", t_s=2, t_t=4, **method), None, "static")
    x, y = batch()
    out = METHODS["tsd"].step(ctx, x, y)
    out.loss.backward()
    assert set(out.terms) == {"task", "tsd"}
    return rec.logits.grad


def test_read_literally_tsd_trains_only_the_student_steps():
    """Cross-entropy on the student only and a detached teacher (the paper read literally): no
    loss term reaches the output at the steps after T_s."""
    g = _tsd_logit_grad(task_on_teacher=False)
    assert g.shape[0] == 4
    assert torch.count_nonzero(g[2:]) == 0, "the teacher-only steps must receive no gradient"
    assert torch.count_nonzero(g[:2]) > 0


def test_by_default_the_teacher_steps_are_trained_too():
    """task_on_teacher (the default since the reconstruction study) puts cross-entropy on the
    T_t output, so the steps after T_s are trained; the KL term still reaches only the student."""
    g = _tsd_logit_grad()
    assert MethodConfig().task_on_teacher is True
    assert torch.count_nonzero(g[2:]) > 0 and torch.count_nonzero(g[:2]) > 0


def test_tsd_terms_equal_losses_computed_from_one_pass():
    from tssd.losses import task_loss, tsd_loss

    model = net()
    m = MethodConfig(name="tsd", t_s=2, t_t=4, alpha=0.7)
    x, y = batch()
    torch.manual_seed(0)
    out = METHODS["tsd"].step(StepContext(model, None, m, None, "static"), x, y)
    logits = model(encode_static(x, 4)).logits
    s, t = logits[:2].mean(0), logits.mean(0)
    task = task_loss(s, y) + task_loss(t, y)  # task_on_teacher (default): on both outputs
    assert out.terms["task"].item() == pytest.approx(task.item(), rel=1e-5)
    assert out.terms["tsd"].item() == pytest.approx(tsd_loss(s, t).item(), rel=1e-5)
    assert out.loss.item() == pytest.approx((task + 0.7 * tsd_loss(s, t)).item(), rel=1e-5)


@pytest.mark.parametrize(("name", "without_ssd"), [("ssd", "baseline"), ("tssd", "tsd")])
def test_weak_head_sends_gradient_only_to_stages_before_it(name, without_ssd):
    m = MethodConfig(name=name, t_s=2, t_t=4)
    x, y = batch()

    def grads(method, with_head):
        model = net()
        stage = model.resolve_stage("middle")
        head = WeakClassifier(model.stage_channels[stage], 10, NeuronSpec()) if with_head else None
        ctx = StepContext(model, head, m, stage if with_head else None, "static")
        out = METHODS[method].step(ctx, x, y)
        out.loss.backward()
        return model, head, out, stage

    model, head, out, stage = grads(name, True)
    ref, _, _, _ = grads(without_ssd, False)
    assert out.terms["ssd"] > 0
    assert all(p.grad.abs().sum() > 0 for p in head.parameters() if p.dim() > 1)
    # Stages after the attachment point and the classifier: exactly the gradient without SSD.
    for i in range(stage + 1, len(model.stages)):
        for p, q in zip(model.stages[i].parameters(), ref.stages[i].parameters(), strict=True):
            assert torch.equal(p.grad, q.grad)
    for p, q in zip(model.classifier.parameters(), ref.classifier.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)
    # Stages up to it: the weak head's KL does reach them.
    w, w_ref = model.stages[0][0][0].weight.grad, ref.stages[0][0][0].weight.grad
    assert not torch.allclose(w, w_ref)


def test_weak_head_is_not_part_of_the_inference_model():
    base, tssd = net(), net()
    stage = tssd.resolve_stage("middle")
    head = WeakClassifier(tssd.stage_channels[stage], 10, NeuronSpec())
    assert count_params(head) > 0
    assert not any(m is head for m in tssd.modules())
    x = encode_static(batch(1)[0], 2)
    assert count_params(tssd) == count_params(base)
    assert count_macs(tssd, x) == count_macs(base, x)


def test_reframe_mode_runs_student_and_teacher_on_their_own_framings():
    model = net()
    seen = []
    orig = model.forward

    def spy(x, feature_stage=None):
        seen.append(x.shape[0])
        return orig(x, feature_stage)

    model.forward = spy
    frames = {2: torch.rand(3, 2, 1, 8, 8), 4: torch.rand(3, 4, 1, 8, 8)}
    ctx = StepContext(model, None, MethodConfig(name="tsd", t_s=2, t_t=4), None, "event")
    METHODS["tsd"].step(ctx, frames, torch.tensor([0, 1, 2]))
    assert seen == [2, 4]  # auto -> reframe for events: two passes on the 2- and 4-frame inputs
    seen.clear()
    ctx.cfg = MethodConfig(name="tsd", t_s=2, t_t=4, student_input="prefix")
    METHODS["tsd"].step(ctx, frames, torch.tensor([0, 1, 2]))
    assert seen == [4]  # prefix: one pass of the 4-frame input


def test_methods_share_initialisation_and_data_order_for_a_seed(tiny_cfg):
    """What makes per-seed differences between methods paired (bench.stats.diff_ci): the same
    seed gives every method the same initial network and the same batch order."""
    from tssd.data import epoch_order
    from tssd.train import Trainer

    nets = {m: Trainer(tiny_cfg(method__name=m)).model.state_dict() for m in ("baseline", "tssd")}
    for k, v in nets["baseline"].items():
        assert torch.equal(v, nets["tssd"][k]), k
    other = Trainer(tiny_cfg(method__name="baseline", seed=1)).model.state_dict()
    assert any(not torch.equal(v, other[k]) for k, v in nets["baseline"].items())
    # the batch order is a function of (seed, epoch) alone, whatever the method
    assert torch.equal(epoch_order(100, 0, 3, True), epoch_order(100, 0, 3, True))
    assert not torch.equal(epoch_order(100, 0, 3, True), epoch_order(100, 1, 3, True))


def test_method_specs_declare_their_facts():
    """Every MethodConfig field but name and t_s (read by all) is method-dependent, the built-in
    loss columns are the four historical ones, and a spec naming an unknown field is refused."""
    import dataclasses

    from tssd.config import MethodConfig
    from tssd.methods import BUILTIN_LOSS_TERMS, METHOD_FIELDS, METHODS, MethodSpec

    fields = [f"method.{f.name}" for f in dataclasses.fields(MethodConfig)]
    assert list(METHOD_FIELDS) == [f for f in fields if f not in ("method.name", "method.t_s")] + [
        "model.weak_head"
    ]
    assert BUILTIN_LOSS_TERMS == ("task", "tsd", "ssd", "kd")
    assert METHODS["baseline"].unread_fields() == METHOD_FIELDS
    assert METHODS["tssd"].unread_fields() == ("method.teacher", "method.kd_weight")
    step = METHODS["baseline"].step
    with pytest.raises(ValueError, match=r"'method\.alhpa'\] are not method-dependent"):
        MethodSpec(step, False, False, reads=("method.alhpa",))
    with pytest.raises(ValueError, match=r"expected distinct term names"):
        MethodSpec(step, False, False, loss_terms=("task", "task"))
    assert MethodSpec(step, False, False).unread_fields() == ()  # undeclared: all read


@pytest.mark.parametrize("kind", ["static", "event"])
def test_the_control_is_tsd_without_its_kl_term(kind):
    """ce_tt, the control that attributes TSSD's gain: cross-entropy on the student and on the
    T_t output, nothing distilled. Its loss and every gradient equal TSD's task term (with the
    task loss on the teacher) alone, whatever alpha, detach_teacher or task_on_teacher say."""
    x, y = batch()
    if kind == "event":
        g = torch.Generator().manual_seed(3)
        x = {2: torch.rand(6, 2, 1, 8, 8, generator=g), 4: torch.rand(6, 4, 1, 8, 8, generator=g)}
    grads, losses = {}, {}
    for name, extra in (
        ("ce_tt", dict(alpha=5.0, task_on_teacher=False, detach_teacher=False)),
        ("tsd", dict(alpha=0.0, task_on_teacher=True)),
    ):
        model = net()
        ctx = StepContext(model, None, MethodConfig(name=name, t_s=2, t_t=4, **extra), None, kind)
        out = METHODS[name].step(ctx, x, y)
        out.loss.backward()
        losses[name] = out.loss.detach()
        grads[name] = [p.grad.clone() for p in model.parameters()]
        if name == "ce_tt":
            assert set(out.terms) == {"task"}
    assert torch.equal(losses["ce_tt"], losses["tsd"])
    assert all(torch.equal(a, b) for a, b in zip(grads["ce_tt"], grads["tsd"], strict=True))
    spec = METHODS["ce_tt"]
    assert spec.uses_teacher_steps and not spec.uses_weak_head
    assert set(spec.reads) == {"method.t_t", "method.student_input"}
