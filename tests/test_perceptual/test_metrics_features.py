"""Feature statistics and the Fréchet distance (FD-EffNetLite0)."""

import numpy as np
import pytest
import torch

from projector.metrics import features as mf
from stylegan2_core.errors import S2EditError, ShapeError


def _random_cov(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, 2 * d))
    return a @ a.T / (2 * d)


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.standard_normal(16), _random_cov(rng, 16)
    assert mf.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    v1, v2 = rng.uniform(0.1, 3.0, 8), rng.uniform(0.1, 3.0, 8)
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    got = mf.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(want, rel=1e-9)


def test_symmetric():
    rng = np.random.default_rng(2)
    s1, s2 = _random_cov(rng, 12), _random_cov(rng, 12)
    mu1, mu2 = rng.standard_normal(12), rng.standard_normal(12)
    assert mf.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(mf.frechet_distance(mu2, s2, mu1, s1), rel=1e-8)


def test_singular_covariances_stay_finite():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((10, 3))
    s1, s2 = a @ a.T, np.zeros((10, 10))  # rank 3 and rank 0, as with fewer images than dimensions
    got = mf.frechet_distance(np.zeros(10), s1, np.ones(10), s2)
    want = 10 + np.trace(s1)  # sqrt(s1 @ 0) = 0
    assert np.isfinite(got) and got == pytest.approx(want, rel=1e-6)


def test_inconsistent_shapes_are_rejected():
    with pytest.raises(ShapeError):
        mf.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_metric_is_never_called_fid():
    assert "FID" not in mf.METRIC_NAME and "FID" not in mf.METRIC_SHORT_NAME
    assert mf.METRIC_SHORT_NAME == "FD-EffNetLite0"


@pytest.fixture(scope="module")
def extractor():
    return mf.FeatureExtractor(batch_size=3)


def test_feature_stats_match_numpy(extractor):
    g = torch.Generator().manual_seed(0)
    batches = [torch.rand(n, 3, 64, 64, generator=g) * 2 - 1 for n in (4, 3)]
    feats = np.concatenate([extractor(b) for b in batches])
    assert feats.shape == (7, 1280) and feats.dtype == np.float64
    mu, sigma, n = mf.feature_stats(iter(batches), extractor)
    assert n == 7
    np.testing.assert_allclose(mu, feats.mean(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(feats, rowvar=False), rtol=1e-6, atol=1e-9)


def test_feature_stats_needs_two_images(extractor):
    with pytest.raises(S2EditError):
        mf.feature_stats([torch.zeros(1, 3, 32, 32)], extractor)
