"""Edit a projected face: move its latent along a SeFa direction and along a fitted attribute direction.

Takes a latent file (``latent.safetensors`` from ``project_image.py``) and renders a strip of
images along (1) the first SeFa direction of the network's coarse layers (closed form, any
network) and, for the demo network, (2) an InterFaceGAN-style direction for one attribute of the
demo world (``--attribute``, default smile): ``--samples`` generated faces are scored by the
world's attribute predictor and a linear SVM separates their w. The strips go to ``--outdir``
(``sefa0.png``, ``<attribute>.png``); the script prints how far the predictor's reading of the
attribute moved from one end of the strip to the other.

    python examples/edit_latent.py --latent out/examples/project/latent.safetensors --outdir out/examples/edit
"""

import argparse
from pathlib import Path

import torch

from projector.edits import apply_direction, fit_direction, labels_from_predictor, parse_layers, sefa
from projector.images import save_image
from projector.latent_file import load_latent
from projector.outputs import check_outputs
from projector.world.predictor import default_predictor
from stylegan2_core import S2EditError, load_generator


@torch.no_grad()
def run(args: argparse.Namespace) -> None:
    supervised = args.network == "demo"
    names = ["sefa0"] + ([args.attribute] if supervised else [])
    paths = check_outputs([args.outdir / f"{name}.png" for name in names], force=args.force)
    G = load_generator(args.network)
    latent = load_latent(args.latent, G)
    ws, noise = latent.ws[:1], [m[:1] for m in latent.noise or []] or None  # the projection's own noise maps
    coarse = parse_layers(args.sefa_layers, G.num_ws)
    edits = [(sefa(G, layers=coarse, k=1).directions[0], coarse)]
    if supervised:
        predictor = default_predictor()
        sample_ws, scores = labels_from_predictor(G, predictor.predict, args.samples, attribute=args.attribute)
        direction = fit_direction(sample_ws, scores, name=args.attribute)
        print(f"{args.attribute}: SVM accuracy {float(direction.values[0]):.2f} on held-out samples")
        edits.append((direction.directions[0], None))
    strengths = torch.linspace(-args.strength, args.strength, args.frames)
    for path, (direction, layers) in zip(paths, edits):
        images = G.synthesis(apply_direction(ws, direction, strengths, layers), noise=noise)
        save_image(path, torch.cat(list(images), dim=2))  # one row, most negative strength on the left
        if supervised:
            moved = predictor.predict(images)[args.attribute]
            print(f"{path.name}: predicted {args.attribute} {float(moved[0]):.2f} -> {float(moved[-1]):.2f} "
                  f"(strength {-args.strength:+g} -> {args.strength:+g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="demo", help="network name or checkpoint path (default: demo)")
    ap.add_argument("--latent", type=Path, default=Path("out/examples/project/latent.safetensors"))
    ap.add_argument("--attribute", default="smile", help="demo-world attribute for the supervised direction")
    ap.add_argument("--samples", type=int, default=1000, help="generated faces to fit the supervised direction on")
    ap.add_argument("--sefa-layers", default="coarse", help="ws layers SeFa factorizes and edits (e.g. coarse, 0-3)")
    ap.add_argument("--strength", type=float, default=3.0, help="largest step along each unit direction")
    ap.add_argument("--frames", type=int, default=5, help="images per strip")
    ap.add_argument("--outdir", type=Path, default=Path("out/examples/edit"))
    ap.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = ap.parse_args()
    try:
        run(args)
    except S2EditError as err:
        ap.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main()
