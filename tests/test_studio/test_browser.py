"""The studio in a real browser (headless Chromium): upload, projection with progress, a slider, export, errors.

Skipped, with the reason, where Playwright or Debian's chromium is missing; ``.ci/run`` installs both.
"""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
WORLD_FACE = ROOT / "examples" / "data" / "world_face.png"

# The bytes of the edited image as the page shows it (the blob behind its src).
IMAGE_BYTES_JS = """async () => {
  const blob = await (await fetch(document.getElementById('after').src)).blob();
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}"""


@pytest.fixture
def page(browser, studio):
    url, _ = studio
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


def after_image(page) -> bytes:
    return base64.b64decode(page.evaluate(IMAGE_BYTES_JS))


def test_project_edit_export_in_the_browser(page, studio, tmp_path, screenshot_path):
    _, server = studio
    page.set_input_files("#photo", str(WORLD_FACE))
    page.wait_for_selector("#target:not([hidden])", timeout=30_000)
    assert page.inner_text("#step") == "ready to project"

    other = page.context.new_page()  # a second tab: its own session, told that the server is busy
    other.goto(page.url)
    other.wait_for_selector("body[data-ready='1']", timeout=30_000)

    page.fill("#steps", "20")
    page.select_option("#loss", "effnet")
    page.click("#project")
    other.wait_for_function("document.getElementById('status').textContent.startsWith('busy')", timeout=60_000)
    assert other.inner_text("#source") == "after: seed0"
    page.wait_for_function("document.getElementById('step').textContent === 'projected'", timeout=120_000)
    other.wait_for_function("document.getElementById('status').textContent === 'idle'", timeout=30_000)
    other.close()
    assert int(page.get_attribute("#step", "data-updates")) >= 2  # progress arrived while it ran
    assert "60 steps" in page.inner_text("#report")  # the default fast preset: 20 Adam steps + 40 L-BFGS
    assert page.is_visible("#progress-img")

    page.wait_for_selector("input.dir-slider")
    first = after_image(page)
    seq = page.get_attribute("#after", "data-seq") or ""
    page.locator("input.dir-slider").first.fill("2.5")  # input + change, as a drag and release
    page.wait_for_function(f"(document.getElementById('after').dataset.seq || '') !== {seq!r}", timeout=30_000)
    page.wait_for_function("!document.getElementById('undo').disabled", timeout=30_000)
    assert after_image(page) != first
    page.wait_for_function("!app.thumbBusy && app.thumbQueue.length === 0", timeout=60_000)
    page.screenshot(path=str(screenshot_path))

    page.click("#export-latent")
    page.wait_for_selector("#exports li a[download$='.safetensors']", timeout=30_000)
    sid = page.evaluate("app.sid")
    latent = next(p for p in server.tabs[sid].session.exports if p.suffix == ".safetensors")
    assert latent.is_relative_to(server.outdir) and latent.name == "world_face-1.safetensors"
    with page.expect_download() as download:
        page.click("#exports li a[download$='.safetensors']")
    assert Path(download.value.path()).read_bytes() == latent.read_bytes()
    page.set_input_files("#latent", str(latent))  # and the page opens it again
    page.wait_for_function("document.getElementById('source').textContent === 'after: world_face-1'",
                           timeout=30_000)

    # the exported latent is accepted by `s2edit edit` on the same network
    from projector.edits import save_directions, sefa

    save_directions(tmp_path / "sefa.npz", sefa(server.networks[0].G, None, 2))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "cli", "edit", str(latent), "--network", "demo", "--direction",
                          str(tmp_path / "sefa.npz"), "--strength", "-1,1", "--outdir", str(tmp_path / "edit")],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "edit" / f"{latent.stem}_sefa0_strip.png").is_file()


def test_a_text_file_shows_a_message(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    page.set_input_files("#photo", str(notes))
    page.wait_for_selector("#message:not([hidden])", timeout=30_000)
    assert "not an image" in page.inner_text("#message")
    page.click("#load-seed")  # the server is still there and the page still works
    page.wait_for_function("document.getElementById('message').hidden", timeout=30_000)
    assert page.inner_text("#source") == "after: seed0"
