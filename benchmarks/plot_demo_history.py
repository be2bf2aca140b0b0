"""The demo model's history for ``docs/demo_model.md``: its schedule table and its quality curve.

Reads the recipe (``benchmarks/demo_schedule.json``) and the FD-EffNetLite0 readings recorded along
the run (``benchmarks/demo_history.csv``: ``demo_quality.py`` on G_ema, or ``fd_snapshots.py`` on one
snapshot, same image sets), rewrites the table between the ``schedule`` markers of the doc and
draws ``docs/demo_quality_curve.png`` (needs matplotlib: ``pip install -e .[docs]``).

    python benchmarks/plot_demo_history.py
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

from stylegan2_core.fileio import atomic_write

__all__ = ["load_history", "main", "plot", "schedule_table", "update_doc"]

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- schedule table: benchmarks/plot_demo_history.py -->", "<!-- end of schedule table -->"


def load_history(path: Path) -> list[dict]:
    """The recorded readings: kimg, FD, attributes passing, PPL (None where not measured), shipped, source."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows.append({"kimg": float(row["kimg"]), "fd": float(row["fd_effnetlite0"]),
                         "attributes": int(row["attributes_passing"]) if row["attributes_passing"] else None,
                         "ppl": float(row["ppl_w"]) if row["ppl_w"] else None,
                         "shipped": row["shipped"] == "1", "source": row["source"], "note": row["note"]})
    return rows


def _phases(schedule: dict) -> list[dict]:
    """Stretches of the run with one learning rate and one generator width."""
    phases: list[dict] = []
    cmax = schedule["config"]["cmax"]
    for seg in schedule["segments"]:
        cmax = seg.get("widen", {}).get("cmax", cmax)
        kimg = seg["end_kimg"] - seg["start_kimg"]
        if not phases or phases[-1]["lr"] != seg["lr"] or phases[-1]["cmax"] != cmax:
            phases.append({"start": seg["start_kimg"], "lr": seg["lr"], "cmax": cmax, "widened": "widen" in seg,
                           "cpu_kimg": 0.0, "gpu_kimg": 0.0, "gpu_minutes": 0.0, "gpu_batches": set()})
        phase = phases[-1]
        phase["end"] = seg["end_kimg"]
        if seg["device"] == "cpu":
            phase["cpu_kimg"] += kimg
        else:
            phase["gpu_kimg"] += kimg
            phase["gpu_minutes"] += seg["minutes"]
            phase["gpu_batches"].add(seg["batch"])
    return phases


def schedule_table(schedule: dict) -> str:
    """Markdown table of the recipe, one row per learning rate and generator width."""
    lines = ["| kimg | lr | G channel_max | CPU kimg (batch 16) | GPU kimg (minutes; batch) |",
             "| --- | ---: | ---: | ---: | --- |"]
    for p in _phases(schedule):
        width = f"{p['cmax']} (widened)" if p["widened"] else str(p["cmax"])
        lr = f"{p['lr']:.7f}".rstrip("0")
        batches = "/".join(str(b) for b in sorted(p["gpu_batches"]))
        gpu = f"{p['gpu_kimg']:.1f} ({p['gpu_minutes']:.1f}; {batches})" if batches else "none"
        lines.append(f"| {p['start']:.1f} → {p['end']:.1f} | {lr} | {width} | {p['cpu_kimg']:.1f} | {gpu} |")
    return "\n".join(lines)


def update_doc(doc: Path, table: str) -> None:
    """Replace the text between the schedule markers of ``doc`` with ``table``."""
    text = doc.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"error: {doc}: no schedule markers ({BEGIN} ... {END})")
    new = pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text)
    atomic_write(doc, lambda tmp: Path(tmp).write_text(new))


def world_floor(report: Path) -> float:
    """The FD-EffNetLite0 floor (world vs world) from the generated quality report."""
    match = re.search(r"world vs world \(floor\) \| ([0-9.]+)", report.read_text())
    if not match:
        raise SystemExit(f"error: {report}: no floor reading")
    return float(match.group(1))


def plot(schedule: dict, history: list[dict], floor: float, out: Path) -> None:
    """FD-EffNetLite0 against kimg (log scale) over the learning-rate schedule, GPU segments shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True, height_ratios=[3, 1],
                                    constrained_layout=True)
    for seg in schedule["segments"]:
        if seg["device"] != "cpu":
            for a in (ax, ax_lr):
                a.axvspan(seg["start_kimg"], seg["end_kimg"], color="tab:orange", alpha=0.25, lw=0)
        if seg.get("widen"):
            for a in (ax, ax_lr):
                a.axvline(seg["start_kimg"], color="tab:green", ls="--", lw=1)
            ax.annotate(f"G widened to channel_max {seg['widen']['cmax']} ", (seg["start_kimg"], 30),
                        ha="right", fontsize=8, color="tab:green")
    for source, marker in (("benchmarks/demo_quality.py", "o"), ("benchmarks/fd_snapshots.py", "s")):
        for shipped in (True, False):
            rows = [r for r in history if r["source"] == source and r["shipped"] == shipped]
            if rows:
                label = f"{Path(source).name}, {'shipped' if shipped else 'not shipped'}"
                ax.plot([r["kimg"] for r in rows], [r["fd"] for r in rows], marker, ms=4, label=label,
                        color="tab:blue" if shipped else "tab:gray", mfc=None if shipped else "none")
    ax.axhline(3 * floor, color="tab:red", lw=1, label=f"3 × floor ({3 * floor:.2f})")
    ax.axhline(floor, color="black", lw=1, ls=":", label=f"floor: world vs world ({floor:.2f})")
    final = max((r for r in history if r["shipped"]), key=lambda r: r["kimg"])
    ax.annotate(f"shipped: {final['fd']:.2f} at {final['kimg']:g} kimg", (final["kimg"], final["fd"]),
                xytext=(-10, 28), textcoords="offset points", ha="right", fontsize=8,
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.set_yscale("log")
    ax.set_yticks([2, 3, 5, 10, 20, 50, 100, 150])
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel("FD-EffNetLite0")
    ax.set_title("Demo model: FD-EffNetLite0 along the run (shaded: GPU segments)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax_lr.stairs([s["lr"] for s in schedule["segments"]],
                 [schedule["segments"][0]["start_kimg"]] + [s["end_kimg"] for s in schedule["segments"]],
                 color="tab:purple", baseline=None)
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("lr")
    ax_lr.set_xlabel("kimg (thousands of real images shown)")
    ax_lr.grid(True, which="both", alpha=0.3)
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedule", type=Path, default=ROOT / "benchmarks" / "demo_schedule.json")
    ap.add_argument("--history", type=Path, default=ROOT / "benchmarks" / "demo_history.csv")
    ap.add_argument("--report", type=Path, default=ROOT / "docs" / "demo_quality.md", help="source of the floor")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "demo_model.md")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "demo_quality_curve.png")
    args = ap.parse_args()
    schedule = json.loads(args.schedule.read_text())
    update_doc(args.doc, schedule_table(schedule))
    plot(schedule, load_history(args.history), world_floor(args.report), args.out)
    print(f"wrote {args.doc} (schedule table) and {args.out}")


if __name__ == "__main__":
    main()
