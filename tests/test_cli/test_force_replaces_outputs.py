"""``--force`` replaces a command's own output set as a whole, and never deletes a file it did not write."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from projector.outputs import MANIFEST_NAME, record_outputs

ROOT = Path(__file__).parents[2]
NET = ROOT / "tests" / "fixtures" / "ada_tiny.pkl"
PHOTO = ROOT / "examples" / "data" / "world_face.png"


def s2edit(*args) -> None:
    """``s2edit ARGS`` in-process (the real entry point); fails the test unless it exits with 0."""
    from cli.app import main

    old = sys.argv
    sys.argv = ["s2edit", *map(str, args)]
    try:
        main()
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"s2edit {' '.join(map(str, args))} exited with {exit_.code}"
    finally:
        sys.argv = old


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def listed(folder: Path, command: str) -> set[str]:
    return set(json.loads((folder / MANIFEST_NAME).read_text())["outputs"][command])


def test_project_force_drops_the_old_video(tmp_path):
    s2edit("project", PHOTO, "--network", NET, "--steps", 1, "--loss", "effnet", "--save-video", "--outdir", tmp_path)
    folder = tmp_path / "world_face"
    assert "proj.mp4" in names(folder) and "proj.mp4" in listed(folder, "project")
    (folder / "notes.txt").write_text("mine\n")
    s2edit("project", PHOTO, "--network", NET, "--steps", 1, "--loss", "effnet", "--outdir", tmp_path, "--force")
    assert names(folder) == {"target.png", "proj.png", "projected_w.npz", "latent.safetensors", "report.json",
                             "notes.txt", MANIFEST_NAME}
    assert listed(folder, "project") == {"target.png", "proj.png", "projected_w.npz", "latent.safetensors",
                                         "report.json"}


def test_edit_names_say_direction_and_strength_and_force_replaces_them(tmp_path):
    s2edit("directions", "sefa", "--network", NET, "-k", 2, "--output", tmp_path / "sefa.npz")
    out = tmp_path / "e"
    s2edit("edit", "3", "--network", NET, "-d", tmp_path / "sefa.npz", "--index", 0, "--strength", "-1,1",
           "--outdir", out)
    assert names(out) == {"3_sefa0_-1.00.png", "3_sefa0_+1.00.png", "3_sefa0_strip.png", MANIFEST_NAME}
    # another direction and strength beside it, without --force: both sets are kept
    s2edit("edit", "3", "--network", NET, "-d", tmp_path / "sefa.npz", "--index", 1, "--strength", "2",
           "--outdir", out)
    assert {"3_sefa0_+1.00.png", "3_sefa1_+2.00.png", "3_sefa1_strip.png"} <= names(out)
    (out / "keep.png").write_bytes(b"not an output")
    s2edit("edit", "3", "--network", NET, "-d", tmp_path / "sefa.npz", "--index", 1, "--strength", "0",
           "--outdir", out, "--force")  # replaces the same latent and direction's outputs only
    assert names(out) == {"3_sefa0_-1.00.png", "3_sefa0_+1.00.png", "3_sefa0_strip.png", "3_sefa1_+0.00.png",
                          "3_sefa1_strip.png", "keep.png", MANIFEST_NAME}


def test_mix_and_generate_force_replace_their_sets(tmp_path):
    s2edit("generate", "--network", NET, "--seeds", "0-3", "--grid", "--outdir", tmp_path / "g")
    s2edit("generate", "--network", NET, "--seeds", "0-1", "--outdir", tmp_path / "g", "--force")
    assert names(tmp_path / "g") == {"seed0000.png", "seed0001.png", MANIFEST_NAME}
    s2edit("mix", "--network", NET, "--rows", "0,1", "--cols", "2", "--outdir", tmp_path / "m")
    s2edit("mix", "--network", NET, "--rows", "0", "--cols", "2", "--outdir", tmp_path / "m", "--force")
    assert names(tmp_path / "m") == {"0-2.png", "grid.png", MANIFEST_NAME}


def test_a_manifest_never_reaches_outside_its_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (tmp_path / "precious.txt").write_text("x")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.txt").write_text("x")
    (folder / "a.png").write_text("x")
    (folder / MANIFEST_NAME).write_text(json.dumps({"format_version": 1, "outputs": {
        "edit": ["../precious.txt", str(tmp_path / "precious.txt"), "sub/deep.txt", "sub", MANIFEST_NAME, "a.png"],
        "mix": ["b.png"]}}))
    (folder / "b.png").write_text("x")
    (folder / "new.png").write_text("x")
    removed = record_outputs("edit", [folder / "new.png"], force=True)
    assert removed == [folder / "a.png"]
    assert (tmp_path / "precious.txt").exists() and (folder / "sub" / "deep.txt").exists()
    assert (folder / "b.png").exists() and listed(folder, "mix") == {"b.png"}
    assert listed(folder, "edit") == {"new.png"}
    (folder / MANIFEST_NAME).write_text("{not json")  # an unreadable manifest deletes nothing
    assert record_outputs("edit", [folder / "new.png"], force=True) == []
    with pytest.raises(Exception, match="command name"):
        record_outputs("../x", [folder / "new.png"])
