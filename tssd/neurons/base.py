"""Behaviour every backend's LIF module shares: the ``[T, B, ...]`` contract and rate recording."""

from __future__ import annotations

import torch
from torch import nn

from tssd.neurons.spec import NeuronSpec


class SpikingNeuron(nn.Module):
    """Multi-step LIF layer: input currents ``[T, B, ...]`` -> spikes of the same shape.

    Each call starts from the resting state (the adapter owns state reset; nothing leaks between
    batches or between networks). Subclasses implement :meth:`_run`. When ``record`` is on, the
    layer accumulates its spike count so a caller can read the mean firing rate (figure 6).
    """

    backend_name = "abstract"

    def __init__(self, spec: NeuronSpec):
        super().__init__()
        self.spec = spec
        self.record = False
        self.spike_sum = 0.0
        self.element_count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.dim() < 2:
            raise ValueError(
                f"{type(self).__name__} expects [T, B, ...] input, got {tuple(x.shape)}"
            )
        s = self._run(x)
        if self.record:
            self.spike_sum += float(s.detach().sum())
            self.element_count += s.numel()
        return s

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # abstract: each backend adapter implements it

    def reset_record(self) -> None:
        """Zero the firing-rate accumulators."""
        self.spike_sum, self.element_count = 0.0, 0

    @property
    def firing_rate(self) -> float:
        """Mean spikes per neuron per timestep since the last :meth:`reset_record`."""
        return self.spike_sum / self.element_count if self.element_count else float("nan")

    def extra_repr(self) -> str:  # noqa: D102
        s = self.spec
        return (
            f"backend={self.backend_name}, tau={s.tau}, theta={s.theta}, reset={s.reset}, "
            f"detach_reset={s.detach_reset}, width={s.surrogate_width}"
        )
