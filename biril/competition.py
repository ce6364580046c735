"""k-winners-take-all across channels: the competition that keeps STDP's filters apart.

Plain Hebbian STDP gives every filter of a layer nearly the same update whenever their
output neurons fire together, so the filters rotate as one and collapse onto a single
feature (measured: mean pairwise cosine 0 → 0.94–1.00 within 60 steps). Convolutional
STDP networks solve this with lateral inhibition across feature maps (Masquelier & Thorpe
2007; Kheradpisheh et al. 2018, SpykeTorch's ``get_k_winners``): at each position only
the ``k`` most strongly responding channels learn from that patch. Different filters then
learn from different patches, and each becomes the feature it already answers best.

Here it acts inside the STDP update only: the post-synaptic spikes that STDP correlates
are masked to each position's winners; the forward pass and STBP never see the mask.
"""

from __future__ import annotations

import torch


def winners_only(post: torch.Tensor, fraction: float) -> torch.Tensor:
    """``post [T, B, C, ...]`` with only the top ``⌈fraction·C⌉`` channels of each position kept.

    A channel's response at a position ranks first by its spike count over the window,
    then by how early it fired (the earliest spike wins in SpykeTorch too): the score
    ``Σ_t s_t·(1 + 2^−(t+1))`` orders by count, since the earliness bits add up to less
    than one spike, and among equal counts by the spike trains read from the first step
    on. Scores are float32 (exact up to ~20 steps; beyond, ties among late spikes blur).
    Silent channels never win. Ties at the ``k``-th score all stay in, so a position can
    keep a few more than ``k``. ``fraction >= 1`` keeps every channel (no competition).
    """
    channels = post.shape[2]
    k = max(1, min(channels, int(-(-fraction * channels // 1))))
    if k >= channels:
        return post
    T = post.shape[0]
    # Channels last, where the network keeps them: the ranking then runs along a
    # contiguous axis (topk over a strided one was 2-3x slower on CPU).
    spikes = post.movedim(2, -1)
    steps = torch.arange(T, device=post.device, dtype=torch.float32)
    weights = 1 + torch.exp2(-(steps + 1))
    score = (weights @ spikes.reshape(T, -1).float()).view(spikes.shape[1:])
    kth = score.topk(k, dim=-1).values.narrow(-1, k - 1, 1)
    keep = (score >= kth) & (score > 0)
    return spikes.mul(keep).movedim(-1, 2)
