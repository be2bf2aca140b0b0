"""Studio slider latency: from a slider's input event to the new image's load event, in a real browser.

Starts the studio in-process on a free port, opens it in headless Chromium (Debian's
``chromium``, driven by Playwright), starts from a seed and moves a SeFa slider to a new
value ``--moves`` times per configuration, waiting for each new image. Configurations run
interleaved in rounds in one process, side by side: renders with 1 torch thread per render
and with torch's default thread count. Then ``--drags`` drags: 12 input events 16 ms apart
(a 60 Hz drag), counting the renders the page asked for (overtaken values are dropped, not
queued) and the time from the last input to its image. Then ``--drops`` photos chosen in the
page's photo input (held-out world faces, 64 px PNGs): the time from choosing the file to the
shown image of its instant inversion (the network's shipped encoder; ``--encoder none``: the
mean face). Prints markdown tables and the machine.

    python benchmarks/bench_studio.py [--network demo] [--moves 40] [--rounds 4] [--drags 8] [--drops 8]
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

# One drag: input events 16 ms apart; resolves with [ms from the last input to the last image, images shown].
DRAG_JS = """async (values) => {
  const img = document.getElementById('after');
  const slider = document.querySelector('input.dir-slider');
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  let loads = 0, lastLoad = 0, lastInput = 0;
  const onLoad = () => { loads += 1; lastLoad = performance.now(); };
  img.addEventListener('load', onLoad);
  for (const v of values) {
    slider.value = String(v);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    lastInput = performance.now();
    await pause(16);
  }
  while (app.inflight || app.pending || img.dataset.seq !== String(app.seq)) await pause(2);
  await pause(100);
  img.removeEventListener('load', onLoad);
  return [lastLoad - lastInput, loads];
}"""


# Resolves with the ms from its call to the next load of the edited image (the photo is chosen right after).
DROP_JS = """() => { window.dropDone = new Promise((resolve) => {
  const t0 = performance.now();
  document.getElementById('after').addEventListener('load', () => resolve(performance.now() - t0), { once: true });
}); }"""


def _drops(page, count: int, resolution: int, folder: str) -> list[float]:
    """ms from choosing each of ``count`` photos to its inversion's image."""
    from projector.images import save_image
    from projector.world import render_batch
    from stylegan2_core.image import from_uint8

    pixels, _ = render_batch(range(3_100_000, 3_100_000 + count), resolution)
    times = []
    for i, image in enumerate(from_uint8(pixels)):
        path = save_image(os.path.join(folder, f"drop{i}.png"), image[None])
        page.evaluate(DROP_JS)
        page.set_input_files("#photo", str(path))
        times.append(page.evaluate("window.dropDone"))
        page.wait_for_timeout(200)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="demo")
    parser.add_argument("--moves", type=int, default=40, help="slider moves per configuration")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds the moves are split into")
    parser.add_argument("--drags", type=int, default=8, help="60 Hz drags of 12 input events each")
    parser.add_argument("--drops", type=int, default=8, help="photos chosen in the page, timed to their inversion")
    parser.add_argument("--encoder", default=None, help="encoder file, or 'none' (default: the network's shipped one)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from cli.studio.app import BackgroundServer, StudioServer, create_app
    from projector.encoder import studio_encoders
    from projector.studio import StudioNetwork
    from stylegan2_core import load_generator

    G = load_generator(args.network, device="cpu")
    encoder = studio_encoders(args.encoder, [G])[0]
    folder = tempfile.mkdtemp(prefix="bench_studio_")
    server = StudioServer([StudioNetwork(args.network, G, encoder=encoder)], folder)
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
        server.render_threads = None
        drags = []
        for i in range(args.drags):
            start = -2.0 if i % 2 == 0 else 2.0
            drags.append(page.evaluate(DRAG_JS, [round(start - (start / 6) * j, 2) for j in range(1, 13)]))
            page.wait_for_timeout(100)
        drops = _drops(page, args.drops, G.img_resolution, folder)
        browser.close()

    print(f"Studio slider-to-new-image latency, network {args.network} ({G.img_resolution} px), "
          f"{per_round * args.rounds} moves per configuration in {args.rounds} interleaved rounds")
    print()
    print("| configuration | median (ms) | p90 (ms) | mean (ms) | min (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, samples in times.items():
        samples.sort()
        p90 = samples[min(len(samples) - 1, round(0.9 * (len(samples) - 1)))]
        print(f"| {name} | {statistics.median(samples):.1f} | {p90:.1f} | {statistics.mean(samples):.1f} | "
              f"{samples[0]:.1f} |")
    if drags:
        print()
        print(f"{len(drags)} drags of 12 input events 16 ms apart (torch default threads): images shown per drag "
              f"{statistics.median([d[1] for d in drags]):.0f} (median; 12 if every value were rendered), "
              f"last input to its image {statistics.median([d[0] for d in drags]):.1f} ms (median)")
    if drops:
        shows = "instant inversion" if encoder is not None else "mean face (no encoder)"
        print()
        print(f"{len(drops)} photos chosen in the page, from the choice to the shown {shows}: median "
              f"{statistics.median(drops):.0f} ms, max {max(drops):.0f} ms")
    print()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} at start; torch {torch.__version__}; Chromium headless "
          f"({CHROMIUM}); {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
