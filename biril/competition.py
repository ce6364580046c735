"""Winner-take-all across channels on the analog drive: what keeps STDP's filters apart.

Plain Hebbian STDP gives every filter of a layer nearly the same update whenever their
output neurons fire together, so the filters rotate as one and collapse onto a single
feature. Convolutional STDP networks solve this with lateral inhibition across feature
maps (Masquelier & Thorpe 2007; Kheradpisheh et al. 2018, SpykeTorch's ``get_k_winners``):
at each position only the ``k`` channels that respond most learn from that patch, so
different filters learn from different patches and each becomes the feature it already
answers best.

*Respond most* is measured on the **drive**, not on spikes. Over ``T = 4`` steps spike
counts tie massively (most active channels fire at every step); ranked by count and broken
by a hash, the winners were effectively random and every filter learned the average patch
(stem ``filter_cos`` 0.97). The drive here is the layer's own output before BatchNorm,
averaged over time, divided by the filter's norm: ``w_c·x̄ / ‖w_c‖``, which at one position
ranks channels exactly as the cosine of each filter with the time-averaged input patch
(the patch's norm is common to all channels there). It is analog, so it does not tie.

The mask acts inside the STDP update only: the forward pass and STBP never see it.
"""

from __future__ import annotations

import torch


def winners_by_drive(
    post: torch.Tensor, drive: torch.Tensor, weight: torch.Tensor, k: int
) -> torch.Tensor:
    """``post`` with only the ``k`` channels of strongest drive at each position kept.

    ``post`` is ``[T, B, C, ...]`` (spikes); ``drive`` the layer's pre-normalization output,
    ``[T, B, C, ...]`` or, for a direct-encoded stem whose current is the same at every step,
    ``[B, C, ...]``; ``weight`` the layer's weight (``[C, ...]``), whose row norms turn the
    drive into a cosine ranking. A winner that did not spike learns nothing: STDP needs the
    post spike. ``k >= C`` keeps every channel (no competition).
    """
    channels = post.shape[2]
    if k >= channels:
        return post
    mean = drive.float().mean(0) if drive.dim() == post.dim() else drive.float()
    norms = weight.detach().float().flatten(1).norm(dim=1).clamp_min(1e-12)
    # Channels last, where the network keeps them: the ranking runs along a contiguous
    # axis (topk over a strided one was 2-3x slower on CPU).
    score = mean.movedim(1, -1) / norms
    if k == 1:
        keep = score == score.amax(dim=-1, keepdim=True)
    else:
        keep = score >= score.topk(k, dim=-1).values.narrow(-1, k - 1, 1)
    return post * keep.movedim(-1, 1).unsqueeze(0).to(post.dtype)
