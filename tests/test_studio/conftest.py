"""Studio fixtures: the demo network (shared, small sample counts), a server in a thread, a headless Chromium."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def demo_network():
    from projector.studio import StudioNetwork
    from stylegan2_core import load_generator

    return StudioNetwork("demo", load_generator("demo", device="cpu"), world_samples=32, pca_samples=1000, k=4)


@pytest.fixture
def session(demo_network, tmp_path):
    from projector.studio import StudioSession

    return StudioSession([demo_network], tmp_path / "out")


@pytest.fixture(scope="module")
def studio(demo_network, tmp_path_factory):
    """(base url, StudioServer) of a studio serving the demo network in a background thread."""
    pytest.importorskip("starlette", reason="the studio extra is not installed (pip install -e '.[studio]')")
    pytest.importorskip("uvicorn", reason="the studio extra is not installed (pip install -e '.[studio]')")
    from cli.studio.app import BackgroundServer, StudioServer, create_app

    server = StudioServer([demo_network], tmp_path_factory.mktemp("studio_out"))
    with BackgroundServer(create_app(server)) as url:
        yield url, server


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = browser_missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshot_path(tmp_path) -> Path:
    """Where the browser test writes its screenshot: ``$S2EDIT_STUDIO_SCREENSHOT`` (e.g. docs/studio.png) or tmp."""
    return Path(os.environ.get("S2EDIT_STUDIO_SCREENSHOT") or tmp_path / "studio.png")
