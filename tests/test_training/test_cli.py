"""``s2edit train`` and ``s2edit metrics`` on tiny runs."""

import json

import typer
from typer.testing import CliRunner

from cli.commands import metrics as metrics_cmd
from cli.commands import train as train_cmd
from projector.training.checkpoint import load_checkpoint

TINY = ["--resolution", "32", "--batch", "4", "--z-dim", "16", "--map", "2", "--cbase", "128", "--cmax", "16",
        "--tick", "0.004", "--snap", "0.004", "--threads", "1", "--device", "cpu"]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("train")(train_cmd.train_command)
    app.command("metrics")(metrics_cmd.metrics_command)
    return app


def test_train_resume_and_metrics(tmp_path):
    runner = CliRunner()
    app = _app()
    res = runner.invoke(app, ["train", "--data", "world", "--kimg", "0.008", "--outdir", str(tmp_path), *TINY])
    assert res.exit_code == 0, res.output
    run = tmp_path / "00000-world-32px"
    _, meta, cfg = load_checkpoint(run / "checkpoint.safetensors")
    assert meta["step"] == 2 and cfg.G.z_dim == 16 and cfg.G.synthesis.channel_max == 16 and cfg.batch_size == 4

    res = runner.invoke(app, ["train", "--resume", str(run), "--kimg", "0.012", "--threads", "1", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    _, meta, cfg = load_checkpoint(run / "checkpoint.safetensors")
    assert meta["step"] == 3 and cfg.kimg == 0.012
    assert len((run / "log.jsonl").read_text().splitlines()) == 3

    res = runner.invoke(app, ["train", "--resume", str(run), "--cmax", "32"])
    assert res.exit_code != 0  # architecture options cannot change on resume

    out = tmp_path / "m.json"
    res = runner.invoke(app, ["metrics", "--network", str(run), "--metrics", "ppl", "--ppl-samples", "4",
                              "--json", str(out)])
    assert res.exit_code == 0, res.output
    values = json.loads(out.read_text())
    assert list(values) == ["PPL-W-effnet"] and values["PPL-W-effnet"]["value"] > 0
