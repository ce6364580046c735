"""A linear probe of the last block: what the convs learned, apart from how fast a head learns.

The paper's head (global average pooling, FC → IF → FC under MSE) learns slowly: on a
random network its hidden IF layer fires 4–6% of the time, and after 312 steps it reached
32–36% on MNIST where a logistic regression on its own input reached 56–57%. So a run's
accuracy mixes two things — the features and the readout. The probe separates them: a
logistic regression (scikit-learn, standardized inputs) on the last block's spike rates
averaged over time, pooled globally (``gap``, what the paper's head sees) and on a 4×4
grid (``pool4``, which keeps where features are), fitted on the training split and scored
on validation. On a random MNIST network these read about 54% and 85%.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .datasets import DatasetSplits
from .datasets.subset import train_subset
from .loader import DeviceLoader
from .models import SpikingResNet

POOLS = {"gap": 1, "pool4": 4}
# Enough images for a stable 10-class probe on ≤1k features, and seconds to fit on a CPU.
MAX_FIT = 10_000


@torch.no_grad()
def block_rates(
    model: SpikingResNet, loader: DeviceLoader, amp: bool = False
) -> dict[str, np.ndarray]:
    """Time-averaged spike rates of the last block for a whole split, per pooling."""
    feats: dict[str, list[torch.Tensor]] = {k: [] for k in POOLS}
    captured: list[torch.Tensor] = []
    hook = model.blocks[-1].register_forward_hook(lambda _m, _i, out: captured.append(out))
    was_training = model.training
    model.eval()
    try:
        with torch.autocast(loader.device.type, dtype=torch.bfloat16, enabled=amp):
            for x, _ in loader.batches():
                captured.clear()
                model(x.transpose(0, 1) if x.dim() == 5 else x)
                rates = captured[0].float().mean(0)  # [B, C, H, W]
                for name, size in POOLS.items():
                    feats[name].append(F.adaptive_avg_pool2d(rates, size).flatten(1).cpu())
    finally:
        hook.remove()
        model.train(was_training)
    return {k: torch.cat(v).numpy() for k, v in feats.items()}


def fit_probe(
    train: np.ndarray, train_y: np.ndarray, val: np.ndarray, val_y: np.ndarray
) -> float:
    """Validation accuracy of a logistic regression fitted on the train rows."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    clf.fit(train, train_y)
    return float(clf.score(val, val_y))


def probe(
    model: SpikingResNet, train: DeviceLoader, val: DeviceLoader, amp: bool = False
) -> dict[str, float]:
    """``{"gap": acc, "pool4": acc}``: validation accuracy of a linear probe per pooling.

    ``train`` holds the images the probe is fitted on: the caller caps them at ``MAX_FIT``
    (``probe_images``), so no forward pass runs over images the fit would not use.
    """
    tr, va = block_rates(model, train, amp), block_rates(model, val, amp)
    ty, vy = train.y.cpu().numpy(), val.y.cpu().numpy()
    return {k: fit_probe(tr[k], ty, va[k], vy) for k in POOLS}


def probe_images(splits: DatasetSplits, seed: int) -> DatasetSplits:
    """``splits`` with its training part cut to a stratified ``MAX_FIT`` where it is larger."""
    if len(splits.train_y) <= MAX_FIT:
        return splits
    return train_subset(splits, MAX_FIT, seed)
