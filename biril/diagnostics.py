"""Per-layer evidence that STDP acts: step sizes, filter diversity, drift from initialization.

A mechanism tuned until it "does no harm" can end up doing nothing: at the old fixed rate
an STDP step moved conv weights 30–130× less than an Adam step and every filter ended at
cosine 0.999 with its initial value. So every epoch records, for each STDP layer:

- ``stdp_step``: mean ``‖ΔW‖/‖W‖`` of that epoch's STDP updates (0 when it had none);
- ``grad_step``: the same for its gradient steps on those weights (0 when it had none);
- ``filter_cos``: mean ``|cos|`` over pairs of the layer's output filters (1 = collapsed);
- ``init_cos``: cosine of the whole weight tensor with its value at initialization.

Step sizes accumulate on the device (no host sync per step) and are read once per epoch.
"""

from __future__ import annotations

import torch
from torch import nn

KEYS = ("stdp_step", "grad_step", "filter_cos", "init_cos")


def filter_cos(weight: torch.Tensor) -> float:
    """Mean ``|cosine|`` over the distinct pairs of output filters (rows) of ``weight``."""
    w = weight.detach().float().flatten(1)
    n = w.shape[0]
    if n < 2:
        return 0.0
    unit = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = (unit @ unit.t()).abs()
    return float((cos.sum() - cos.diagonal().sum()) / (n * (n - 1)))


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float().flatten(), b.detach().float().flatten()
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-12))


class STDPDiagnostics:
    """Step sizes of the STDP-eligible weights, summed per kind of update over one epoch."""

    def __init__(self, named_layers: list[tuple[str, nn.Module]]) -> None:
        self.names = [name for name, _ in named_layers]
        self.weights = [layer.weight for _, layer in named_layers]
        # Built from the run's seed before any checkpoint is loaded, so a resumed run
        # compares with the same initialization as an uninterrupted one.
        self.initial = [w.detach().clone() for w in self.weights]
        self.reset()

    def reset(self) -> None:
        device = self.weights[0].device if self.weights else "cpu"
        self.sums = {k: torch.zeros(len(self.weights), device=device) for k in KEYS[:2]}
        self.counts = dict.fromkeys(KEYS[:2], 0)

    def snapshot(self) -> list[torch.Tensor]:
        return [w.detach().clone() for w in self.weights]

    @torch.no_grad()
    def record(self, kind: str, before: list[torch.Tensor]) -> None:
        """Add ``‖W − before‖/‖before‖`` of every layer to ``kind`` ("stdp_step"/"grad_step")."""
        rel = [
            (w - b).norm() / b.norm().clamp_min(1e-12)
            for w, b in zip(self.weights, before, strict=True)
        ]
        self.sums[kind] += torch.stack(rel).float()
        self.counts[kind] += 1

    def epoch_summary(self) -> dict[str, dict[str, float]]:
        """``{layer: {stdp_step, grad_step, filter_cos, init_cos}}``, then starts a new epoch."""
        means = {
            k: (self.sums[k] / max(1, self.counts[k])).tolist() for k in ("stdp_step", "grad_step")
        }
        out = {
            name: {
                "stdp_step": means["stdp_step"][i],
                "grad_step": means["grad_step"][i],
                "filter_cos": filter_cos(w),
                "init_cos": cosine(w, w0),
            }
            for i, (name, w, w0) in enumerate(
                zip(self.names, self.weights, self.initial, strict=True)
            )
        }
        self.reset()
        return out
