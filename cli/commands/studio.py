"""s2edit studio: an interactive editor in the browser (project, edit, export), served locally."""

from pathlib import Path
from typing import Annotated

import typer

from .._options import DeviceOpt

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _check_port(host: str, port: int) -> None:
    import socket

    from stylegan2_core.errors import InputError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            raise InputError(f"cannot listen on {host}:{port} ({err.strerror or err}); pick another --port") from None


def studio_command(
    network: Annotated[list[str] | None, typer.Option("--network", "-n", help="Checkpoint path, URL, known name or "
                                                     "'demo'; repeat for a model picker. Only these can be "
                                                     "loaded.")] = None,
    directions: Annotated[list[Path] | None, typer.Option("--directions", "-d", help="Direction files offered as "
                                                         "sliders (repeatable).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but 127.0.0.1 exposes "
                                                     "the editor to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Every export is written under this "
                                                                "folder.")] = Path("studio_out"),
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
    world_samples: Annotated[int, typer.Option("--world-samples", min=20, help="Generated images scored to fit the "
                                                                               "demo world's attribute "
                                                                               "directions (kept in "
                                                                               "OUTDIR/.cache).")] = 1000,
    encoder: Annotated[str | None, typer.Option("--encoder", help="Encoder file (s2edit train-encoder): a dropped "
                                                                  "photo shows its instant inversion and Project "
                                                                  "refines it; 'none': no encoder; default: the "
                                                                  "network's shipped one, if any.")] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Serve the studio: drop a photo, watch it project, move sliders, export PNG / latent / video."""
    from stylegan2_core.errors import InputError

    from .._console import console, out
    from .._options import load_network, resolve_device

    try:
        import uvicorn

        from ..studio.app import StudioServer, create_app
    except ImportError as err:
        raise InputError(f"the studio needs its extra ({err.name} is missing): pip install 's2edit[studio]'") from None
    from projector.encoder import studio_encoders
    from projector.outputs import check_outputs
    from projector.studio import StudioNetwork

    if host not in LOCAL_HOSTS:
        console.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach this address can use the "
                      "editor and write files under --outdir (use an SSH tunnel to 127.0.0.1 instead)")
    _check_port(host, port)
    check_outputs([outdir / ".uploads" / "check"], force=False)
    dev = resolve_device(device)
    names = network or ["demo"]
    generators = [load_network(name, dev) for name in names]
    networks = [StudioNetwork(name, G, directions or (), world_samples=world_samples, cache_dir=outdir / ".cache",
                              encoder=enc) for name, G, enc in zip(names, generators, studio_encoders(encoder, generators))]
    app = create_app(StudioServer(networks, outdir, host=host))
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    out.print(url)
    out.file.flush()  # the URL shows at once, also through a pipe
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
