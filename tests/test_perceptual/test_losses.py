"""Perceptual distances, the LPIPS import workaround, distance selection, noise regulariser."""

import functools
import hashlib
import http.server
import threading
import urllib.request
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from projector import losses
from stylegan2_core.errors import InputError, S2EditError, ShapeError
from stylegan2_core.image import from_uint8

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def effnet_dist():
    return losses.EffNetPerceptual()


@pytest.fixture(scope="module")
def photos():
    """Two real photos, 96x96, in [-1, 1]."""
    x = [from_uint8(skimage_data.chelsea()), from_uint8(skimage_data.coffee())]
    return torch.cat([F.interpolate(i, size=(96, 96), mode="bilinear", antialias=True, align_corners=False) for i in x])


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma)
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).repeat(3, 1, 1, 1)
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(3, 1, 1, -1), groups=3)
    return F.conv2d(x, k.view(3, 1, -1, 1), groups=3)


def _noisy(x: torch.Tensor, std: float) -> torch.Tensor:
    return (x + std * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)


# --------------------------------------------------------------------------- EffNetPerceptual


def test_effnet_zero_for_identical_images(effnet_dist, photos):
    d = effnet_dist(photos, photos.clone())
    assert d.shape == (2,)
    assert torch.all(d.abs() < 1e-6)


def test_effnet_positive_and_symmetric(effnet_dist, photos):
    other = _blur(photos, 2.0)
    d_ab, d_ba = effnet_dist(photos, other), effnet_dist(other, photos)
    assert torch.all(d_ab > 0)
    torch.testing.assert_close(d_ab, d_ba)


@pytest.mark.parametrize(("degrade", "light", "heavy"), [(_blur, 0.7, 3.0), (_noisy, 0.03, 0.3)])
def test_effnet_grows_with_degradation(effnet_dist, photos, degrade, light, heavy):
    d_light = effnet_dist(photos, degrade(photos, light))
    d_heavy = effnet_dist(photos, degrade(photos, heavy))
    assert torch.all(d_heavy > d_light)


def test_effnet_batch_entries_are_independent(effnet_dist, photos):
    other = _noisy(photos, 0.1)
    together = effnet_dist(photos, other)
    alone = torch.cat([effnet_dist(photos[i : i + 1], other[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-6)


def test_effnet_has_input_gradients(effnet_dist, photos):
    x = _noisy(photos, 0.1).requires_grad_(True)
    effnet_dist(x, photos).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in effnet_dist.parameters())


def test_effnet_accepts_small_and_non_square_rejects_tiny(effnet_dist, photos):
    small = F.interpolate(photos, size=(32, 48), mode="bilinear", antialias=True, align_corners=False)
    d = effnet_dist(small, _noisy(small, 0.2))
    assert d.shape == (2,) and torch.all(d > 0)
    with pytest.raises(ShapeError):
        effnet_dist(photos[:, :, :16, :16], photos[:, :, :16, :16])
    with pytest.raises(ShapeError):
        effnet_dist(photos, photos[:1])


def test_effnet_satisfies_the_protocol(effnet_dist):
    assert isinstance(effnet_dist, losses.PerceptualDistance)


# --------------------------------------------------------------------------- LPIPS


def test_import_lpips_and_random_backbone_lpips(photos):
    lpips = losses._import_lpips()
    import torchvision.models  # importable after the workaround, Python models intact

    assert callable(torchvision.models.vgg16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()
    with torch.no_grad():
        d = model(photos, _noisy(photos, 0.2)).flatten()
        same = model(photos, photos).flatten()
    assert d.shape == (2,) and torch.isfinite(d).all() and torch.all(d > 0)
    assert torch.all(same.abs() < 1e-6)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache in a temporary TORCH_HOME."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to fetch the VGG16 weights fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("tests must not download")

    monkeypatch.setattr(losses, "_fetch_vgg16_weights", forbidden)


def test_weights_availability_follows_the_hub_cache(empty_hub):
    assert losses.vgg16_weights_path() == empty_hub / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert not losses.lpips_weights_available()
    losses.vgg16_weights_path().parent.mkdir(parents=True)
    losses.vgg16_weights_path().touch()
    assert losses.lpips_weights_available()


def test_auto_falls_back_offline_with_notice(empty_hub, no_download):
    dist, notice = losses.make_perceptual("auto", allow_download=False)
    assert isinstance(dist, losses.EffNetPerceptual)
    assert notice and "\n" not in notice and "EfficientNet-Lite0" in notice


def test_auto_never_touches_the_network(empty_hub, no_download, monkeypatch):
    """auto with uncached weights falls back at once (no download attempt, so no wait on a hung network)."""
    def unreachable(*args, **kwargs):
        raise AssertionError("auto must not open a connection")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    dist, notice = losses.make_perceptual("auto", allow_download=True)
    assert isinstance(dist, losses.EffNetPerceptual)
    assert "\n" not in notice and len(notice) <= 110 and "--loss lpips" in notice


def test_explicit_lpips_without_weights_says_where_to_put_them(empty_hub, no_download):
    with pytest.raises(S2EditError, match="vgg16-397923af.pth") as info:
        losses.make_perceptual("lpips", allow_download=False)
    assert str(losses.vgg16_weights_path()) in str(info.value)


def test_download_failure_is_clear_and_leaves_no_partial_file(empty_hub, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(S2EditError, match="place vgg16-397923af.pth"):
        losses.make_perceptual("lpips", allow_download=True)
    assert not list(empty_hub.rglob("*.part"))


@pytest.fixture
def vgg_server(tmp_path_factory, monkeypatch):
    """A local http server standing in for download.pytorch.org; yields the file it serves for VGG16."""
    root = tmp_path_factory.mktemp("srv")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(losses, "VGG16_URL", f"http://127.0.0.1:{server.server_port}/{losses.VGG16_FILE}")
    yield root / losses.VGG16_FILE
    server.shutdown()


def test_download_goes_through_fileio_with_hash_and_content_checks(empty_hub, vgg_server, monkeypatch):
    """An HTML page is never cached, even one whose hash were right; a file with the right hash and a torch
    header is cached at the hub path, with no temporary file left."""
    vgg_server.write_bytes(b"<html><body>rate limited</body></html>")
    monkeypatch.setattr(losses, "VGG16_SHA256", hashlib.sha256(vgg_server.read_bytes()).hexdigest())
    with pytest.raises(S2EditError, match="other than a torch checkpoint.*place vgg16-397923af.pth"):
        losses._fetch_vgg16_weights()
    assert not losses.lpips_weights_available()

    vgg_server.write_bytes(b"\x80\x02 pickled weights")
    with pytest.raises(S2EditError, match="sha256 mismatch"):
        losses._fetch_vgg16_weights()
    assert not losses.lpips_weights_available()

    monkeypatch.setattr(losses, "VGG16_SHA256", hashlib.sha256(vgg_server.read_bytes()).hexdigest())
    assert losses._fetch_vgg16_weights() == losses.vgg16_weights_path()
    assert losses.vgg16_weights_path().read_bytes() == vgg_server.read_bytes()
    assert [p.name for p in empty_hub.rglob("*") if p.is_file()] == [losses.VGG16_FILE]


def test_effnet_kind_and_unknown_kind():
    dist, notice = losses.make_perceptual("effnet")
    assert isinstance(dist, losses.EffNetPerceptual) and notice is None
    with pytest.raises(InputError):
        losses.make_perceptual("vgg")


# --------------------------------------------------------------------------- noise regulariser


def _reference_noise_reg(maps: list[np.ndarray]) -> np.ndarray:
    """Direct float64 transcription of the official loop, one sample at a time."""
    batch = max(m.shape[0] for m in maps)
    out = np.zeros(batch)
    for i in range(batch):
        for m in maps:
            v = m[i if m.shape[0] > 1 else 0, 0].astype(np.float64)
            while True:
                out[i] += np.mean(v * np.roll(v, 1, axis=1)) ** 2 + np.mean(v * np.roll(v, 1, axis=0)) ** 2
                if v.shape[0] <= 8:
                    break
                v = v.reshape(v.shape[0] // 2, 2, v.shape[1] // 2, 2).mean(axis=(1, 3))
    return out


def test_noise_regularizer_matches_float64_reference():
    g = torch.Generator().manual_seed(1)
    maps = [torch.randn(3, 1, s, s, generator=g) for s in (4, 8, 16, 32, 64)]
    maps.append(torch.randn(1, 1, 32, 32, generator=g))  # a map shared by the whole batch
    # correlated noise so the terms are far from zero
    maps.append(F.avg_pool2d(torch.randn(3, 1, 33, 33, generator=g), 2, stride=1))
    maps[-1] = maps[-1][:, :, :32, :32]
    got = losses.noise_regularizer(maps)
    want = _reference_noise_reg([m.numpy() for m in maps])
    assert got.shape == (3,)
    np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-5, atol=1e-9)


def test_noise_regularizer_single_sample_equals_official_scalar():
    g = torch.Generator().manual_seed(2)
    maps = [torch.randn(1, 1, s, s, generator=g) for s in (4, 8, 16, 32)]
    official = 0.0
    for noise in maps:
        while True:
            official += (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
            official += (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    torch.testing.assert_close(losses.noise_regularizer(maps), official.reshape(1))


def test_noise_regularizer_gradients_and_bad_shapes():
    maps = [torch.randn(2, 1, 16, 16, requires_grad=True)]
    losses.noise_regularizer(maps).sum().backward()
    assert maps[0].grad is not None and maps[0].grad.abs().sum() > 0
    with pytest.raises(ShapeError):
        losses.noise_regularizer([torch.randn(16, 16)])
    with pytest.raises(ShapeError):
        losses.noise_regularizer([])
