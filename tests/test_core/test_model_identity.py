"""A model is identified by its weights, not its file; a download that does not load is never cached."""

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from stylegan2_core import CheckpointError, load_generator, model_id, save_generator
from stylegan2_core.fileio import cache_root

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.mark.parametrize("fixture", ["ada_tiny.pkl", "tf_tiny.pkl", "rosinality_tiny.pt"])
def test_model_id_is_the_same_in_every_format(tmp_path, fixture):
    G = load_generator(FIXTURES / fixture)
    native = load_generator(save_generator(G, tmp_path / "net.safetensors"))
    assert G.checkpoint.sha256 != native.checkpoint.sha256  # the files differ ...
    assert G.checkpoint.model_id == native.checkpoint.model_id == model_id(G)  # ... the model does not
    if fixture.endswith(".pt"):
        assert load_generator(save_generator(native, tmp_path / "back.pt")).checkpoint.model_id == model_id(G)


def test_model_id_changes_with_the_weights():
    G = load_generator(FIXTURES / "ada_tiny.pkl")
    before = model_id(G)
    with torch.no_grad():
        next(G.synthesis.parameters()).add_(1e-3)
    assert model_id(G) != before
    assert model_id(load_generator(FIXTURES / "tf_tiny.pkl")) != before


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_an_html_page_served_as_a_checkpoint_is_not_cached(server):
    root, base = server
    (root / "net.pkl").write_text("<html><body>Service temporarily unavailable</body></html>")
    url = f"{base}/net.pkl"
    with pytest.raises(CheckpointError, match="not a loadable checkpoint.*nothing was cached"):
        load_generator(url)
    key = hashlib.sha256(url.encode()).hexdigest()[:12]  # the cache names a download after its URL's digest
    downloads = cache_root() / "downloads"
    assert not downloads.exists() or not [p for p in downloads.iterdir() if p.name.startswith(key)]
    # Once the server is fixed, the same URL loads: the bad page was never cached.
    (root / "net.pkl").write_bytes((FIXTURES / "ada_tiny.pkl").read_bytes())
    G = load_generator(url)
    assert G.checkpoint.model_id == load_generator(FIXTURES / "ada_tiny.pkl").checkpoint.model_id
