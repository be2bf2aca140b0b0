"""Target reading (formats, orientation, bit depth, errors) and the PSNR/SSIM measures."""

import cv2
import numpy as np
import pytest
import torch

from projector.images import load_target, read_image
from projector.metrics.image_quality import psnr, ssim
from stylegan2_core import InputError


def _gradient(h=40, w=60):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x / (w - 1), y / (h - 1), np.full_like(x, 0.25, dtype=float)], axis=2).astype(np.float32)


def test_png_jpeg_webp_grey_16bit_rgba(tmp_path):
    rgb = _gradient()
    bgr8 = (rgb[..., ::-1] * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), bgr8)
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), rgb, atol=1 / 255)
    cv2.imwrite(str(tmp_path / "a.jpg"), bgr8, [cv2.IMWRITE_JPEG_QUALITY, 98])
    np.testing.assert_allclose(read_image(tmp_path / "a.jpg"), rgb, atol=0.05)
    cv2.imwrite(str(tmp_path / "a.webp"), bgr8, [cv2.IMWRITE_WEBP_QUALITY, 101])
    np.testing.assert_allclose(read_image(tmp_path / "a.webp"), rgb, atol=1 / 255)
    cv2.imwrite(str(tmp_path / "g.png"), bgr8[..., 0])
    grey = read_image(tmp_path / "g.png")
    assert grey.shape == (40, 60, 3) and np.allclose(grey[..., 0], grey[..., 2])
    cv2.imwrite(str(tmp_path / "d.png"), (rgb[..., ::-1] * 65535).round().astype(np.uint16))
    np.testing.assert_allclose(read_image(tmp_path / "d.png"), rgb, atol=1e-4)
    rgba = np.concatenate([bgr8, np.zeros_like(bgr8[..., :1])], axis=2)
    cv2.imwrite(str(tmp_path / "t.png"), rgba)
    np.testing.assert_allclose(read_image(tmp_path / "t.png"), 1.0)  # fully transparent -> white


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image  # Pillow ships with imageio; used here only to write an EXIF tag

    img = np.zeros([20, 40, 3], np.uint8)
    img[:, :10] = 255  # white stripe on the left of a landscape image
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    shown = read_image(tmp_path / "r.jpg")
    assert shown.shape[:2] == (40, 20)  # portrait after orientation
    assert shown[:8].mean() > 0.8 and shown[-8:].mean() < 0.2  # the stripe is now on top


def test_crop_and_pad(tmp_path):
    cv2.imwrite(str(tmp_path / "w.png"), (_gradient(30, 90)[..., ::-1] * 255).astype(np.uint8))
    t, prep = load_target(tmp_path / "w.png", 32)
    assert t.shape == (1, 3, 32, 32) and prep.mode == "crop" and prep.source_size == (90, 30)
    assert t.min() >= -1 and t.max() <= 1
    p, prep = load_target(tmp_path / "w.png", 32, crop=False)
    assert prep.mode == "pad" and p.shape == (1, 3, 32, 32)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="no such image"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="unreadable"):
        read_image(tmp_path / "junk.png")


def test_psnr_and_ssim_against_references():
    from skimage.metrics import structural_similarity

    rng = np.random.RandomState(0)
    a = rng.uniform(-1, 1, [2, 3, 32, 32]).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.2, a.shape), -1, 1).astype(np.float32)
    ours = ssim(torch.from_numpy(a), torch.from_numpy(b))
    for i in range(2):
        ref = structural_similarity(a[i], b[i], channel_axis=0, data_range=2, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
        assert float(ours[i]) == pytest.approx(ref, abs=1e-4)
    mse = ((a - b) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(psnr(torch.from_numpy(a), torch.from_numpy(b)).numpy(), 10 * np.log10(4 / mse), rtol=1e-5)
    assert float(ssim(torch.from_numpy(a), torch.from_numpy(a))[0]) == pytest.approx(1.0)
