"""Winner-take-all on the drive, against a plain loop over positions."""

import itertools

import pytest
import torch

from biril.competition import winners_by_drive


def naive_winners(post, drive, weight, k):
    """Position by position: the k channels of largest cosine-ranked drive keep their spikes."""
    T, B, C = post.shape[:3]
    mean = drive.mean(0) if drive.dim() == post.dim() else drive
    norms = [float(weight[c].norm()) for c in range(C)]
    out = torch.zeros_like(post)
    for b in range(B):
        for pos in itertools.product(*[range(n) for n in post.shape[3:]]):
            scores = [float(mean[(b, c, *pos)]) / norms[c] for c in range(C)]
            for c in sorted(range(C), key=lambda c: -scores[c])[:k]:
                out[(slice(None), b, c, *pos)] = post[(slice(None), b, c, *pos)]
    return out


def rand(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("shape", [(4, 3, 8, 3, 3), (6, 2, 10, 2, 4), (4, 5, 12)])
def test_winners_match_the_plain_ranking(shape, k):
    post = (rand(*shape, seed=0) > 0).float()
    drive = rand(*shape, seed=1)
    weight = rand(shape[2], 3, 3, 3, seed=2) * torch.linspace(0.5, 2, shape[2]).view(-1, 1, 1, 1)
    torch.testing.assert_close(
        winners_by_drive(post, drive, weight, k), naive_winners(post, drive, weight, k)
    )


def test_a_constant_drive_without_time_axis_ranks_the_same_as_its_repetition():
    post = (rand(4, 2, 6, 3, 3, seed=3) > 0).float()
    drive = rand(2, 6, 3, 3, seed=4)
    weight = rand(6, 2, 3, 3, seed=5)
    repeated = drive.unsqueeze(0).expand(4, *drive.shape)
    torch.testing.assert_close(
        winners_by_drive(post, drive, weight, 1), winners_by_drive(post, repeated, weight, 1)
    )


def test_the_ranking_is_by_cosine_not_by_raw_drive():
    """A filter with twice the norm drives twice as hard on the same patch; it must not win
    for that alone."""
    post = torch.ones(2, 1, 2, 1, 1)
    weight = torch.tensor([[1.0, 0.0], [2.0, 2.0]])  # unit-norm-ish vs. a long diagonal one
    patch = torch.tensor([1.0, 0.1])  # closer in angle to the first filter
    drive = (weight @ patch).view(1, 2, 1, 1)
    kept = winners_by_drive(post, drive, weight, 1)
    assert kept[:, 0, 0].sum() == 2 and kept[:, 0, 1].sum() == 0


def test_a_silent_winner_learns_nothing_and_k_at_channels_keeps_all():
    post = torch.zeros(3, 1, 4, 2, 2)
    post[:, :, 1] = 1  # only channel 1 fires; channel 0 has the strongest drive
    drive = torch.zeros(3, 1, 4, 2, 2)
    drive[:, :, 0] = 5
    weight = torch.ones(4, 1, 1, 1)
    assert winners_by_drive(post, drive, weight, 1).sum() == 0
    assert winners_by_drive(post, drive, weight, 4) is post
