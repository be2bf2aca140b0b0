"""Studio upload memory: the server's peak resident memory while photo uploads decode.

Starts the studio in-process (demo network) for each case, in a fresh process, warms it with one
small upload, resets the kernel's peak-RSS mark (``/proc/self/clear_refs``), sends the case's
uploads (concurrently when more than one) and reports the peak RSS above the warm baseline
(``VmHWM - VmRSS`` before). Cases: the hostile file (a 25-megapixel 16-bit RGBA PNG of a few
hundred KB, within the byte and pixel limits), the largest photo accepted (25 megapixels of
8-bit RGB), and three of those at once. Linux only. Prints a markdown table and the machine.

    python benchmarks/bench_upload_memory.py
"""

import argparse
import concurrent.futures
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).parents[1]
CASES = {  # name: (file, uploads at once)
    "25 MP 16-bit RGBA PNG (hostile)": ("rgba16.png", 1),
    "25 MP 8-bit RGB PNG (largest accepted)": ("rgb8.png", 1),
    "3 x 25 MP 8-bit RGB PNG at once": ("rgb8.png", 3),
}


def make_files(folder: Path, side: int = 5000) -> None:
    """The case files: smooth gradients (they compress to well under the 20 MiB upload limit)."""
    ramp = np.linspace(0, 1, side, dtype=np.float32)
    rgb = np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1),
                    np.full((side, side), 0.5, np.float32)], axis=-1)
    cv2.imwrite(str(folder / "rgb8.png"), (rgb * 255).astype(np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    rgba = np.concatenate([rgb, np.ones((side, side, 1), np.float32)], axis=-1)
    cv2.imwrite(str(folder / "rgba16.png"), (rgba * 65535).astype(np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    cv2.imwrite(str(folder / "small.png"), np.zeros((64, 64, 3), np.uint8))


def _kib(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


def _upload(url: str, token: str, path: Path) -> tuple[int, str]:
    request = urllib.request.Request(f"{url}/api/upload/photo", data=path.read_bytes(), method="POST",
                                     headers={"X-Session": token, "X-Filename": path.name})
    try:
        with urllib.request.urlopen(request, timeout=600) as r:
            return r.status, ""
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())["error"]


def run_case(folder: Path, name: str, count: int) -> dict:
    """One case in this process: (peak MiB above the warm baseline, answers, seconds)."""
    import torch

    from cli.studio.app import BackgroundServer, StudioServer, create_app
    from projector.studio import StudioNetwork
    from stylegan2_core import load_generator

    torch.set_num_threads(1)
    server = StudioServer([StudioNetwork("demo", load_generator("demo", device="cpu"))], folder / "out")
    with BackgroundServer(create_app(server)) as url:
        with urllib.request.urlopen(url + "/", timeout=60) as r:
            token = re.search(r'name="s2edit-session" content="([^"]+)"', r.read().decode()).group(1)
        assert _upload(url, token, folder / "small.png")[0] == 200
        baseline = _kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            answers = list(pool.map(lambda _: _upload(url, token, folder / name), range(count)))
        seconds = time.perf_counter() - start
        peak = _kib("VmHWM")
    return {"peak_mib": (peak - baseline) / 1024, "answers": answers, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case (file,count) in this process
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        name, count = args.case.split(",")
        print(json.dumps(run_case(Path(args.folder), name, int(count))))
        return
    with tempfile.TemporaryDirectory(prefix="bench_upload_") as tmp:
        folder = Path(tmp)
        make_files(folder)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        print("| upload | file size | answer | peak RSS above baseline | seconds |")
        print("|---|---|---|---|---|")
        for label, (name, count) in CASES.items():
            out = subprocess.run([sys.executable, __file__, "--case", f"{name},{count}", "--folder", tmp],
                                 capture_output=True, text=True, env=env, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            answers = "; ".join(sorted({f"{s} {m}".strip() for s, m in result["answers"]}))
            size = (folder / name).stat().st_size / 1024
            print(f"| {label} | {size:.0f} KiB | {answers} | {result['peak_mib']:.0f} MiB | {result['seconds']:.1f} |")
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
