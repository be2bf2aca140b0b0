"""``project --align`` keeps the alignment: alignment.json for ``paste``, and the latent describes the real photo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from projector.latent_file import load_latent

NET = Path(__file__).parents[1] / "fixtures" / "ada_tiny.pkl"


def s2edit(*args) -> None:
    from cli.app import main

    old = sys.argv
    sys.argv = ["s2edit", *map(str, args)]
    try:
        main()
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"s2edit {' '.join(map(str, args))} exited with {exit_.code}"
    finally:
        sys.argv = old


def test_project_align_then_paste(tmp_path):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    s2edit("project", photo, "--network", NET, "--align", "--steps", 1, "--loss", "effnet", "--outdir", tmp_path / "p")
    folder = tmp_path / "p" / "astronaut"
    alignment = json.loads((folder / "alignment.json").read_text())
    assert alignment["size"] == 32 and alignment["source_size"] == [512, 512]
    assert Path(alignment["source"]) == photo.resolve()

    meta = load_latent(folder / "latent.safetensors").meta
    assert meta["preprocessing"]["mode"] == "ffhq-align" and meta["preprocessing"]["source_size"] == [512, 512]
    assert meta["alignment"]["file"] == "alignment.json"
    assert np.allclose(meta["alignment"]["transform"], alignment["transform"])
    assert meta["alignment"]["box"] == alignment["box"]

    s2edit("paste", photo, folder / "proj.png", "--alignment", folder / "alignment.json", "--output",
           tmp_path / "pasted.png")
    original = cv2.imread(str(photo)).astype(int)
    pasted = cv2.imread(str(tmp_path / "pasted.png")).astype(int)
    assert pasted.shape == original.shape
    x0, y0, x1, y1 = np.array(alignment["box"]).astype(int)
    assert np.abs(pasted[y0:y1, x0:x1] - original[y0:y1, x0:x1]).mean() > 1  # the projection is in the face
    assert np.abs(pasted[:, :100] - original[:, :100]).max() == 0  # away from the face, nothing changed
