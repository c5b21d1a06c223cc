"""The ``ann`` pseudo-backend: ReLU where the LIF would be, turning any architecture of the
registry into its ANN twin (run it with ``t_s = 1``). It exists for the ANN teacher of
teacher-based distillation (table 5); it ignores every LIF field of the spec.
"""

from __future__ import annotations

import torch

from tssd.neurons.base import SpikingNeuron


class ReLUActivation(SpikingNeuron):
    """``relu(x)`` per timestep; "firing rate" is then the fraction of positive activations."""

    backend_name = "ann"

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        y = self._run(x)
        if self.record:
            self.spike_sum += float((y > 0).sum())
            self.element_count += y.numel()
        return y
