"""The repository holds source, tests, small fixtures and shipped assets: no training state, no large files."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
MAX_BYTES = 5 * 1024 * 1024
LARGE_FILES_ALLOWED_UNDER = ("tests/fixtures/", "stylegan2_core/assets/", "projector/assets/")


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_no_large_tracked_files_outside_fixtures_and_assets():
    large = [p for p in _tracked_files()
             if not p.startswith(LARGE_FILES_ALLOWED_UNDER) and (ROOT / p).is_file()
             and (ROOT / p).stat().st_size > MAX_BYTES]
    assert not large, f"tracked files over 5 MB outside fixtures/assets: {large}"


def test_no_training_state_tracked():
    weights = (".safetensors", ".pt", ".pth", ".pkl", ".ckpt")
    names = [p for p in _tracked_files()
             if p.startswith(("training/", "runs/"))
             or (p.endswith(weights) and Path(p).name.startswith(("checkpoint", "network-snapshot-")))]
    assert not names, f"training runs or checkpoints are tracked: {names}"


README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_BYTES = 12 * 1024
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def _relative_links(page: Path):
    for target in LINK.findall(page.read_text()):
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            yield target


def test_readme_is_short():
    assert README.stat().st_size <= README_MAX_BYTES, f"README.md is {README.stat().st_size} bytes"


def test_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in _relative_links(README)}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not missing, f"docs pages not linked from README.md: {missing}"


def test_relative_links_resolve():
    broken = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for target in _relative_links(page):
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken


def test_link_check_sees_broken_links_and_anchors(tmp_path):
    """The checks above read links, images and anchors as GitHub does."""
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## Where a step's time goes (CPU)\n\n```\n# not a heading\n```\n"
                    "[a](other.md) ![b](img.png) [c](https://example.com) [d](#a-page)\n")
    assert list(_relative_links(page)) == ["other.md", "img.png", "#a-page"]
    assert _anchors(page) == {"a-page", "where-a-steps-time-goes-cpu"}
