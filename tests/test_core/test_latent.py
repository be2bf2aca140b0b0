"""Seeded sampling: sample_ws is the one z -> ws path, w_statistics the one w_avg estimate."""

import numpy as np
import pytest
import torch

from stylegan2_core import (
    InputError,
    ShapeError,
    class_labels,
    estimate_w_avg,
    load_generator,
    sample_ws,
    w_statistics,
    z_from_seeds,
    z_samples,
)


def test_sample_ws_by_seeds_matches_the_official_z(G):
    ws = sample_ws(G, [0, 5, 2**32 - 1])
    assert ws.shape == (3, G.num_ws, G.w_dim)
    z = torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in (0, 5, 2**32 - 1)]))
    with torch.no_grad():
        torch.testing.assert_close(ws, G.mapping(z.float(), None), rtol=0, atol=0)
        torch.testing.assert_close(sample_ws(G, range(2), truncation_psi=0.6),
                                   G.mapping(z_from_seeds([0, 1], G.z_dim), None, truncation_psi=0.6), rtol=0, atol=0)


def test_sample_ws_by_stream_matches_z_samples(G):
    ws = sample_ws(G, num=7, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(ws, G.mapping(z_samples(7, G.z_dim, 3), None), rtol=0, atol=0)
    assert not torch.equal(ws[0], sample_ws(G, [3])[0])  # a stream is not per-seed z


def test_sample_ws_conditional(fixtures_dir):
    G = load_generator(fixtures_dir / "ada_tiny_cond.pkl")
    c = class_labels(1, G.c_dim)
    ws = sample_ws(G, [4, 9], c=c)
    with torch.no_grad():
        torch.testing.assert_close(ws, G.mapping(z_from_seeds([4, 9], G.z_dim), c.repeat(2, 1)), rtol=0, atol=0)
    with pytest.raises(InputError, match="conditional"):
        sample_ws(G, [4])
    with pytest.raises(ShapeError, match="class labels"):
        sample_ws(G, [4, 9], c=torch.zeros(3, G.c_dim))


@pytest.mark.parametrize("kwargs", [{}, {"seeds": [1], "num": 2, "seed": 0}, {"num": 3}, {"seed": 3},
                                    {"seeds": [1], "seed": 0}])
def test_sample_ws_wants_seeds_or_num_and_seed(G, kwargs):
    with pytest.raises(InputError, match="either seeds, or num and seed"):
        sample_ws(G, **kwargs)


@pytest.mark.parametrize("seeds", [[-1], [2**32], [1.5], []])
def test_bad_seeds_are_input_errors(seeds):
    with pytest.raises(InputError):
        z_from_seeds(seeds, 4)


def test_w_statistics_is_the_mean_of_the_sampled_ws(G):
    w_avg, w_std = w_statistics(G, num_samples=500, seed=123)
    w = sample_ws(G, num=500, seed=123)[:, :1]
    assert w_avg.shape == (1, 1, G.w_dim)
    torch.testing.assert_close(w_avg, w.mean(0, keepdim=True), rtol=1e-5, atol=1e-6)
    assert w_std == pytest.approx(float((w - w_avg).square().sum(-1).mean().sqrt()), rel=1e-5)


def test_estimate_w_avg_is_w_statistics(G):
    """Checkpoints without a w_avg get the official projector's estimate (10 000 z from RandomState(123))."""
    torch.testing.assert_close(estimate_w_avg(G), w_statistics(G)[0].reshape(-1), rtol=0, atol=0)
