"""Where a checkpoint comes from: a path, an http(s) URL (cached download) or a well-known short name."""

from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..fileio import Progress, download

__all__ = ["KNOWN_NETWORKS", "resolve_source"]

_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
_SG3 = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files"

# Official pretrained StyleGAN2 generators (stylegan2-ada-pytorch and the StyleGAN3 repository's StyleGAN2 ones).
KNOWN_NETWORKS: dict[str, str] = {
    "ffhq": f"{_ADA}/ffhq.pkl",
    "metfaces": f"{_ADA}/metfaces.pkl",
    "afhqcat": f"{_ADA}/afhqcat.pkl",
    "afhqdog": f"{_ADA}/afhqdog.pkl",
    "afhqwild": f"{_ADA}/afhqwild.pkl",
    "brecahad": f"{_ADA}/brecahad.pkl",
    "cifar10": f"{_ADA}/cifar10.pkl",
    "ffhq-512": f"{_SG3}/stylegan2-ffhq-512x512.pkl",
    "ffhq-256": f"{_SG3}/stylegan2-ffhq-256x256.pkl",
    "ffhqu-1024": f"{_SG3}/stylegan2-ffhqu-1024x1024.pkl",
    "ffhqu-256": f"{_SG3}/stylegan2-ffhqu-256x256.pkl",
    "afhqv2": f"{_SG3}/stylegan2-afhqv2-512x512.pkl",
    "celebahq-256": f"{_SG3}/stylegan2-celebahq-256x256.pkl",
    "lsundog-256": f"{_SG3}/stylegan2-lsundog-256x256.pkl",
}
# Official pretrained StyleGAN3 generators, configs T and R ("u": trained on unaligned images).
KNOWN_NETWORKS.update({
    f"stylegan3-{cfg}-{name}": f"{_SG3}/stylegan3-{cfg}-{file}.pkl"
    for cfg in ("t", "r")
    for name, file in (("ffhq", "ffhq-1024x1024"), ("ffhqu", "ffhqu-1024x1024"), ("ffhqu-256", "ffhqu-256x256"),
                       ("metfaces", "metfaces-1024x1024"), ("metfacesu", "metfacesu-1024x1024"),
                       ("afhqv2", "afhqv2-512x512"))
})

def resolve_source(source, sha256: str | None = None, progress: Progress | None = None,
                   validate: Callable[[Path], None] | None = None) -> Path:
    """A local path for ``source`` (path, URL or short name), downloading when needed.

    ``validate(tmp_path)`` checks a download before it is cached (see ``fileio.download``).
    """
    text = str(source)
    if text.startswith(("http://", "https://")):
        return download(text, sha256=sha256, progress=progress, validate=validate)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_file():
            raise InputError(f"{path}: is a directory, not a checkpoint file")
        return path
    if text in KNOWN_NETWORKS:
        return download(KNOWN_NETWORKS[text], sha256=sha256, progress=progress, validate=validate)
    raise InputError(f"{text}: no such file, and not a URL or known network name "
                     f"({', '.join(['demo', *KNOWN_NETWORKS])})")
