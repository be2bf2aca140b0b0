"""Studio slider latency: from a slider's input event to the new image's load event, in a real browser.

Starts the studio in-process on a free port, opens it in headless Chromium (Debian's
``chromium``, driven by Playwright), starts from a seed and moves a SeFa slider to a new
value ``--moves`` times per configuration, waiting for each new image. Configurations run
interleaved in rounds in one process, side by side: renders with 1 torch thread per render
and with torch's default thread count. Prints a markdown table and the machine.

    python benchmarks/bench_studio.py [--network demo] [--moves 40] [--rounds 4]
"""

import argparse
import os
import platform
import statistics
import tempfile
import time

import torch

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# One move: set the slider, dispatch 'input' as a drag does, resolve with the time until the image loads.
MOVE_JS = """async (value) => {
  const img = document.getElementById('after');
  const slider = document.querySelector('input.dir-slider');
  return await new Promise((resolve) => {
    const t0 = performance.now();
    img.addEventListener('load', () => resolve(performance.now() - t0), { once: true });
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  });
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="demo")
    parser.add_argument("--moves", type=int, default=40, help="slider moves per configuration")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds the moves are split into")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from cli.studio.app import BackgroundServer, StudioServer, create_app
    from projector.studio import StudioNetwork
    from stylegan2_core import load_generator

    G = load_generator(args.network, device="cpu")
    server = StudioServer([StudioNetwork(args.network, G)], tempfile.mkdtemp(prefix="bench_studio_"))
    configs = {"1 thread per render": 1, f"torch default ({torch.get_num_threads()} threads)": None}
    times = {name: [] for name in configs}
    load = os.getloadavg()
    with BackgroundServer(create_app(server)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        page.wait_for_timeout(1500)  # let the thumbnail strips finish so they do not overlap the moves
        per_round = max(1, args.moves // args.rounds)
        k = 0
        for _ in range(args.rounds):
            for name, threads in configs.items():
                server.render_threads = threads
                for _ in range(2):  # warm-up moves, not timed
                    page.evaluate(MOVE_JS, 0.5)
                for _ in range(per_round):
                    k += 1
                    value = round(((k * 0.37) % 5.5) - 2.75, 2) or 0.1  # a new value every move
                    times[name].append(page.evaluate(MOVE_JS, value))
                    page.wait_for_timeout(30)
        browser.close()

    print(f"Studio slider-to-new-image latency, network {args.network} ({G.img_resolution} px), "
          f"{per_round * args.rounds} moves per configuration in {args.rounds} interleaved rounds")
    print()
    print("| configuration | median (ms) | p90 (ms) | mean (ms) | min (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, samples in times.items():
        samples.sort()
        p90 = samples[min(len(samples) - 1, int(round(0.9 * (len(samples) - 1))))]
        print(f"| {name} | {statistics.median(samples):.1f} | {p90:.1f} | {statistics.mean(samples):.1f} | "
              f"{samples[0]:.1f} |")
    print()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} at start; torch {torch.__version__}; Chromium headless "
          f"({CHROMIUM}); {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
