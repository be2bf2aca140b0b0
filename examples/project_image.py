"""Project a photo into the demo network's W space and measure how close the projection gets.

Loads the shipped 64x64 demo generator, projects ``examples/data/world_face.png`` (a face of
the demo world that the model never saw) with the official projector settings, and writes
``target.png``, ``proj.png``, ``latent.safetensors`` (ws and the optimized noise; the input of
``edit_latent.py``, ``style_mix.py`` and ``make_video.py``), ``projected_w.npz`` and
``report.json`` to ``--outdir``; then prints PSNR and the perceptual distance.

    python examples/project_image.py --outdir out/examples/project            # ~300 steps
    python examples/project_image.py --outdir out/examples/project --steps 1000 --space w+
"""

import argparse
from pathlib import Path

from projector import ProjectorConfig, project
from projector.images import load_target
from projector.losses import make_perceptual
from projector.outputs import OUTPUT_FILES, check_outputs, write_projection
from stylegan2_core import S2EditError, load_generator


def run(args: argparse.Namespace) -> None:
    check_outputs([args.outdir / name for name in OUTPUT_FILES], force=args.force)
    G = load_generator(args.network)
    target, preprocessing = load_target(args.image, G.img_resolution)
    distance, notice = make_perceptual(args.loss, allow_download=False)
    if notice:
        print(notice)
    cfg = ProjectorConfig(steps=args.steps, space=args.space)
    result = project(G, target, cfg, distance=distance)
    report = write_projection(args.outdir, result, 0, target, G, cfg, preprocessing, source=str(args.image))
    print(f"PSNR {report['psnr_db']:.2f} dB, perceptual distance {report['perceptual_distance']:.4f} "
          f"({report['loss']}), {report['seconds']:.1f} s; wrote {args.outdir}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="demo", help="network name or checkpoint path (default: demo)")
    ap.add_argument("--image", type=Path, default=Path(__file__).parent / "data" / "world_face.png")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--space", choices=("w", "w+"), default="w")
    ap.add_argument("--loss", choices=("auto", "lpips", "effnet"), default="auto",
                    help="perceptual distance; auto = LPIPS if its weights are cached, else EfficientNet-Lite0")
    ap.add_argument("--outdir", type=Path, default=Path("out/examples/project"))
    ap.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = ap.parse_args()
    try:
        run(args)
    except S2EditError as err:
        ap.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main()
