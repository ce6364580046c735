"""k-winners-take-all across channels, against a plain loop over positions."""

import itertools
import math

import pytest
import torch

from biril.competition import winners_only


def naive_winners(post, fraction):
    """Position by position: rank channels by spike count, then by their trains read from
    the first step on (an earlier spike beats a later one)."""
    T, B, C = post.shape[:3]
    k = math.ceil(fraction * C)
    out = torch.zeros_like(post)
    for b in range(B):
        for pos in itertools.product(*[range(n) for n in post.shape[3:]]):
            trains = post[(slice(None), b, slice(None), *pos)]  # [T, C]
            keys = []
            for c in range(C):
                train = tuple(int(v) for v in trains[:, c])
                keys.append((sum(train), train))
            kth = sorted(keys, reverse=True)[k - 1]
            for c in range(C):
                if keys[c] >= kth and keys[c][0] > 0:
                    out[(slice(None), b, c, *pos)] = trains[:, c]
    return out


def spikes(*shape, p, seed):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).float()


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
@pytest.mark.parametrize("shape", [(4, 3, 8, 3, 3), (6, 2, 10, 2, 4), (4, 5, 12)])
def test_winners_match_the_plain_ranking(shape, fraction):
    post = spikes(*shape, p=0.4, seed=len(shape))
    torch.testing.assert_close(winners_only(post, fraction), naive_winners(post, fraction))


def test_more_spikes_beat_an_earlier_single_spike_and_silence_never_wins():
    # One position, three channels: 2 late spikes, 1 early spike, silent. k = 1.
    post = torch.zeros(4, 1, 3)
    post[2:, 0, 0] = 1
    post[0, 0, 1] = 1
    kept = winners_only(post, 1 / 3)
    assert torch.equal(kept[:, 0, 0], post[:, 0, 0]) and kept[:, 0, 1:].sum() == 0
    # With two winners the early single spike comes in; the silent one still does not.
    kept = winners_only(post, 2 / 3 + 0.01)
    assert torch.equal(kept[:, 0, :2], post[:, 0, :2]) and kept[:, 0, 2].sum() == 0


def test_everyone_learns_at_fraction_one():
    post = spikes(4, 2, 5, 3, 3, p=0.3, seed=1)
    assert winners_only(post, 1.0) is post
