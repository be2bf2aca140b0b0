"""``s2edit studio`` itself: it prints the URL, warns off loopback-only hosts and refuses a port in use."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

pytest.importorskip("uvicorn", reason="the studio extra is not installed (pip install -e '.[studio]')")


def test_a_port_in_use_is_a_one_line_error():
    from cli.commands.studio import _check_port
    from stylegan2_core.errors import InputError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(InputError, match="pick another --port"):
            _check_port("127.0.0.1", s.getsockname()[1])


def test_studio_command_serves_and_warns_off_localhost(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "studio", "--network", "demo", "--host", "127.0.0.2",
                             "--port", str(port), "--outdir", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline().strip()
        assert line == f"http://127.0.0.2:{port}", proc.stderr.read() if proc.poll() is not None else line
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{line}/", timeout=5) as r:  # --host's address is a host it serves
                    token = re.search(r'name="s2edit-session" content="([^"]+)"', r.read().decode()).group(1)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        with urllib.request.urlopen(urllib.request.Request(f"{line}/api/config", headers={"X-Session": token}),
                                    timeout=5) as r:
            config = json.loads(r.read())
        assert [n["name"] for n in config["networks"]] == ["demo"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "warning: listening on 127.0.0.2" in " ".join(err.split())
    assert (tmp_path / "out").is_dir()


def test_an_encoder_for_another_network_is_a_one_line_error(tmp_path):
    from projector.encoder import Encoder, EncoderConfig, save_encoder

    enc = save_encoder(tmp_path / "enc.safetensors", Encoder(EncoderConfig(
        resolution=32, num_ws=8, w_dim=64, working_resolution=32, channel_base=256, channel_max=32, blocks=1,
        head_channels=32)), "0" * 64)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run([sys.executable, "-m", "cli", "studio", "--network", ROOT / "tests" / "fixtures" / "ada_tiny.pkl",
                        "--encoder", enc, "--port", str(port), "--outdir", tmp_path / "out", "--device", "cpu"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "enc.safetensors" in lines[0] and "none of the --network ones" in lines[0]
