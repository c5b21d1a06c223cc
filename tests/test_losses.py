"""Loss terms on tiny tensors against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from tssd.losses import distill_kl, mean_logits, ssd_loss, task_loss, tsd_loss

pytestmark = pytest.mark.unit


def test_task_loss_by_hand():
    # softmax([0, ln 3]) = [1/4, 3/4]; CE for class 1 = -ln(3/4)
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert task_loss(logits, torch.tensor([1])).item() == pytest.approx(-math.log(0.75), abs=1e-6)


def test_kd_kl_by_hand_with_temperature():
    # teacher/2 = [ln 3, 0] -> p_t = [3/4, 1/4]; student = [0, 0] -> p_s = [1/2, 1/2]
    # KL = 3/4 ln(3/2) + 1/4 ln(1/2); scaled by tau^2 = 4
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[2 * math.log(3.0), 0.0]])
    expected = 4 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert tsd_loss(student, teacher, 2.0).item() == pytest.approx(expected, abs=1e-6)
    assert ssd_loss(student, teacher, 2.0).item() == pytest.approx(expected, abs=1e-6)


def test_kl_is_batch_mean_and_zero_for_equal_outputs():
    a = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    assert distill_kl(a, a, 3.0).item() == pytest.approx(0.0, abs=1e-7)
    one = distill_kl(a[:1], a[1:], 2.0)
    two = distill_kl(torch.cat([a[:1], a[:1]]), torch.cat([a[1:], a[1:]]), 2.0)
    assert two.item() == pytest.approx(one.item(), rel=1e-6)


def test_mean_logits_over_prefix():
    seq = torch.arange(12.0).view(3, 2, 2)
    assert torch.equal(mean_logits(seq, 2), (seq[0] + seq[1]) / 2)
    assert torch.equal(mean_logits(seq), seq.mean(0))


def test_no_gradient_reaches_the_teacher():
    student = torch.randn(4, 5, requires_grad=True)
    teacher = torch.randn(4, 5, requires_grad=True)
    (tsd_loss(student, teacher) + ssd_loss(student, teacher)).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    # without detach the teacher does receive gradient (the switch is real)
    tsd_loss(student, teacher, detach_teacher=False).backward()
    assert teacher.grad is not None and teacher.grad.abs().sum() > 0
