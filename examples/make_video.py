"""An interpolation video on the demo network: a walk in W through seeds and a projected face.

Keyframes are the seeds in ``--seeds`` and, with ``--latent``, the latents of a latent
file (``project_image.py``'s output) appended after them; consecutive keyframes are joined
by ``--frames`` frames of linear (or cubic) interpolation in W, with smoothstep easing, and
``--loop`` returns to the first. Writes ``walk.mp4`` (H.264) to ``--outdir``.

    python examples/make_video.py --latent out/examples/project/latent.safetensors --outdir out/examples/video
"""

import argparse
from pathlib import Path

import torch

from projector.edits import KINDS, walk
from projector.latent_file import load_latent
from projector.outputs import check_outputs
from projector.video import render_video
from stylegan2_core import S2EditError, load_generator, parse_seeds, z_from_seeds


@torch.no_grad()
def run(args: argparse.Namespace) -> None:
    (path,) = check_outputs([args.outdir / "walk.mp4"], force=args.force)
    G = load_generator(args.network)
    keys = G.mapping(z_from_seeds(parse_seeds(args.seeds), G.z_dim), None, truncation_psi=args.trunc)
    if args.latent is not None:
        keys = torch.cat([keys, load_latent(args.latent, G).ws])
    frames = walk(G, args.frames, ws=keys, kind=args.kind, loop=args.loop, easing="smoothstep")
    written = render_video(G, frames, path, fps=args.fps)
    print(f"{len(keys)} keyframes, {written} frames at {args.fps:g} fps: wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="demo", help="network name or checkpoint path (default: demo)")
    ap.add_argument("--seeds", default="0-3", help="keyframe seeds, e.g. 0-3,7")
    ap.add_argument("--latent", type=Path, help="latent file whose latents become the last keyframes")
    ap.add_argument("--frames", type=int, default=30, help="frames per transition between keyframes")
    ap.add_argument("--kind", choices=[k for k in KINDS if k != "slerp"], default="linear")
    ap.add_argument("--loop", action="store_true", help="return to the first keyframe")
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--trunc", type=float, default=0.7, help="truncation psi for the seeds")
    ap.add_argument("--outdir", type=Path, default=Path("out/examples/video"))
    ap.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = ap.parse_args()
    try:
        run(args)
    except S2EditError as err:
        ap.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main()
