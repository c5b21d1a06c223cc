"""Surrogate-gradient spike functions as picklable :class:`torch.autograd.Function` classes."""

from __future__ import annotations

import torch


class RectSpike(torch.autograd.Function):
    """Heaviside spike of ``x = H - theta`` with the rectangular surrogate gradient.

    Forward: ``S = (x >= 0)`` (``x > 0`` when ``fire_at_equality`` is false).
    Backward: ``dS/dx = 1/width`` where ``|x| < width/2``, else 0.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, width: float, fire_at_equality: bool) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.width = width
        return (x >= 0).to(x.dtype) if fire_at_equality else (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # noqa: D102
        (x,) = ctx.saved_tensors
        width = ctx.width
        window = (x.abs() < width / 2).to(grad_out.dtype)
        return grad_out * window / width, None, None


def rect_spike(x: torch.Tensor, width: float = 1.0, fire_at_equality: bool = True) -> torch.Tensor:
    """Spike of ``x = H - theta`` with the rectangular surrogate of the given width."""
    return RectSpike.apply(x, width, fire_at_equality)
