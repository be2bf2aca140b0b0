"""Project an image into W+ with the Python API, then render the result with the optimized noise."""

import argparse
from pathlib import Path

import torch

from projector import ProjectorConfig, project
from projector.io import load_target, save_image
from projector.losses import make_perceptual
from projector.metrics.image_quality import psnr
from stylegan2_core import load_generator, z_from_seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--network", default="tests/fixtures/ada_tiny.pkl")
    ap.add_argument("--image", type=Path, help="image to project; default: a generated one (seed 123)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--outdir", type=Path, default=Path("out/examples/project"))
    args = ap.parse_args()

    G = load_generator(args.network, device="cpu")
    if args.image is not None:
        target, _ = load_target(args.image, G.img_resolution)
    else:
        with torch.no_grad():
            target = G(z_from_seeds([123], G.z_dim), noise_mode="const")
    distance, notice = make_perceptual("auto")
    if notice:
        print(notice)
    result = project(G, target, ProjectorConfig(steps=args.steps, space="w+"), distance=distance,
                     callback=lambda s: s.step % 50 == 0 and print(f"step {s.step}: loss {float(s.loss[0]):.4f}"))
    save_image(args.outdir / "target.png", target[0])
    save_image(args.outdir / "proj.png", result.images[0])
    print(f"PSNR {float(psnr(result.images.clamp(-1, 1), target)[0]):.2f} dB, {result.seconds:.1f} s -> {args.outdir}")


if __name__ == "__main__":
    main()
