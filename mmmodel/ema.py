"""Exponential moving average (EMA) of a model's weights: what validation, model selection and export use.

After every optimizer step each averaged parameter moves ``1 - decay`` of the way to the trained one,
``ema = decay * ema + (1 - decay) * weights``, so it averages the last ~``1 / (1 - decay)`` steps and
smooths out the step-to-step noise of the final iterates (Polyak averaging). Buffers are copied, not
averaged (this model's are constant pooling matrices). Under DDP every rank updates its own copy from
identical replicas, so the copies stay identical too.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn


class WeightEMA:
    """An averaged copy of ``model`` (``.module``, in eval mode, no gradients), starting at its current weights."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards ``model``'s current weights (call after each optimizer step)."""
        for averaged, current in zip(self.module.parameters(), model.parameters(), strict=True):
            averaged.lerp_(current.detach(), 1.0 - self.decay)
        for averaged, current in zip(self.module.buffers(), model.buffers(), strict=True):
            averaged.copy_(current)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor] | None, checkpoint_path: Path) -> None:
        """Restore the average saved in a checkpoint; one without it cannot resume an EMA run exactly."""
        if state is None:
            raise ValueError(f"{checkpoint_path} holds no weight average (written without ema_decay, or before "
                             "it existed); train into another --out, or pass --no-resume to start afresh")
        self.module.load_state_dict(state)
