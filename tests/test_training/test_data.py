"""Training data: folders and zips of any-size images, the world stream, sharding and xflip."""

import itertools
import zipfile

import cv2
import numpy as np
import pytest
import torch

from projector import world
from projector.training.data import ImageFiles, RealStream, WorldImages, open_source, prepare_image
from stylegan2_core.errors import InputError
from stylegan2_core.image import from_uint8


def _write(path, rgb):
    """RGB arrays are converted to OpenCV's BGR; gray and BGRA arrays are written as they are."""
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.shape[-1:] == (3,) else rgb)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :10] = (255, 0, 0)
    wide[:, 10:30] = (0, 200, 0)
    wide[:, 30:] = (255, 0, 0)
    _write(d / "a_wide.png", wide)
    _write(d / "b_gray.png", np.full((50, 30), 77, np.uint8))
    _write(d / "sub" / "c.jpg", np.full((8, 8, 3), 128, np.uint8))
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 2] = 255  # BGRA: red, nearly transparent
    rgba[..., 3] = 10
    _write(d / "d_rgba.png", rgba)
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_images_are_cropped_and_resized(folder):
    files = ImageFiles(folder, 16)
    assert files.names == ["a_wide.png", "b_gray.png", "d_rgba.png", "sub/c.jpg"]
    images = [files[i] for i in range(len(files))]
    assert all(img.shape == (16, 16, 3) and img.dtype == np.uint8 for img in images)
    assert (images[0] == (0, 200, 0)).all()  # the centered square of the wide image
    assert (images[1] == 77).all()
    assert (images[2] == (255, 0, 0)).all()  # alpha dropped
    np.testing.assert_allclose(images[3], 128, atol=2)  # upscaled jpeg


def test_zip_matches_folder(folder, tmp_path):
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    a, b = ImageFiles(folder, 8), open_source(str(archive), 8)
    assert a.names == b.names
    for i in range(len(a)):
        assert np.array_equal(a[i], b[i])


def test_bad_sources(tmp_path):
    with pytest.raises(InputError):
        ImageFiles(tmp_path, 16)  # no images
    with pytest.raises(InputError):
        open_source(str(tmp_path / "missing"), 16)


def test_prepare_image_uses_inter_area():
    img = np.random.RandomState(0).randint(0, 256, (64, 96, 3)).astype(np.uint8)
    expected = cv2.resize(img[:, 16:80], (16, 16), interpolation=cv2.INTER_AREA)
    assert np.array_equal(prepare_image(img, 16), expected)


def test_stream_epochs_shards_and_determinism(folder):
    files = ImageFiles(folder, 8)
    single = RealStream(files, batch_size=4, seed=3)
    shards = [RealStream(files, batch_size=4, seed=3, rank=r, world_size=2) for r in range(2)]
    for step in range(3):
        whole = single.batch(step)
        assert whole.shape == (4, 3, 8, 8)
        assert torch.equal(torch.cat([s.batch(step) for s in shards]), whole)
        assert torch.equal(RealStream(files, batch_size=4, seed=3).batch(step), whole)
    epoch = [single.item(i) for i in range(4)]  # each image once per epoch
    assert sorted(img.sum() for img in epoch) == sorted(files[i].sum() for i in range(4))
    with pytest.raises(InputError):
        RealStream(files, batch_size=3, world_size=2)


def test_xflip_mirrors_about_half():
    source = WorldImages(16, start_seed=100)
    plain, flipped = RealStream(source, 64), RealStream(source, 64, xflip=True)
    mirrored = [not np.array_equal(plain.item(i), flipped.item(i)) for i in range(64)]
    assert 16 < sum(mirrored) < 48
    i = mirrored.index(True)
    assert np.array_equal(flipped.item(i), plain.item(i)[:, ::-1])


def test_world_stream_renders_consecutive_seeds():
    stream = RealStream(open_source("world", 16, world_start_seed=7), batch_size=2)
    expected = from_uint8(np.stack([world.render(9, 16)[0], world.render(10, 16)[0]]))
    assert torch.equal(stream.batch(1), expected)


@pytest.mark.parametrize("kind", ["world", "zip"])
def test_background_workers_give_the_same_batches(kind, folder, tmp_path):
    if kind == "world":
        source = WorldImages(16, start_seed=3)
    else:
        archive = tmp_path / "imgs.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(folder))
        source = ImageFiles(archive, 8)
    stream = RealStream(source, batch_size=3, seed=5, xflip=True)
    stream.item(0)  # the parent opens its zip handle before the workers fork
    inline = [stream.batch(step) for step in range(4, 9)]
    batches = stream.batches(4, workers=2)
    got = [next(batches) for _ in range(5)]
    batches.close()
    assert [step for step, _ in got] == list(range(4, 9))
    for (_, batch), expected in zip(got, inline):
        assert torch.equal(batch, expected)
    assert [step for step, _ in itertools.islice(stream.batches(7), 2)] == [7, 8]
