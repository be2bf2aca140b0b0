"""s2edit directions: find attribute directions in W (SeFa, GANSpace PCA, InterFaceGAN SVM)."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .._options import ClassOpt, DeviceOpt, ForceOpt, NetworkOpt, TruncOpt, finite

app = typer.Typer(help="Find attribute directions in W: sefa (closed form), pca (GANSpace), svm (InterFaceGAN).",
                  no_args_is_help=True)

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Directions file (.npz or .safetensors).")]


class Method(str, Enum):
    linear_svm = "linear-svm"
    logistic = "logistic"


def _prepare(output: Path, force: bool, network: str, device: str):
    from stylegan2_core.errors import InputError

    from .._options import check_outputs, load_network, resolve_device

    if output.suffix not in (".npz", ".safetensors"):
        raise InputError(f"{output}: directions are saved as .npz or .safetensors")
    check_outputs([output], force)
    return load_network(network, resolve_device(device))


def _report(ds, output: Path, title: str, value_name: str) -> None:
    from rich.table import Table

    from projector.edits import save_directions

    from .._console import out

    save_directions(output, ds)
    table = Table(title=f"{title} -> {output}")
    table.add_column("index", justify="right")
    table.add_column("name")
    table.add_column(value_name, justify="right")
    for i, (name, value) in enumerate(zip(ds.names, ds.values.tolist())):
        table.add_row(str(i), name, f"{value:.4g}")
    layers = "all" if ds.layers is None else ",".join(map(str, ds.layers))
    out.print(table)
    out.print(f"{len(ds)} unit directions, w_dim {ds.directions.shape[1]}, layers {layers}")


@app.command("sefa")
def sefa_command(
    output: OutputOpt,
    layers: Annotated[str, typer.Option("--layers", help="ws layers whose style weights are factorized: 0-3, "
                                                         "coarse, middle, fine or all.")] = "all",
    k: Annotated[int, typer.Option("-k", min=1, help="Number of directions.")] = 5,
    network: NetworkOpt = "demo",
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """Closed-form factorization (SeFa): top eigenvectors of the style-affine weights; no sampling."""
    from projector.edits import parse_layers, sefa, ws_resolutions

    G = _prepare(output, force, network, device)
    chosen = None if layers.strip().lower() == "all" else parse_layers(layers, G.num_ws, ws_resolutions(G))
    _report(sefa(G, chosen, k), output, "SeFa", "eigenvalue")


@app.command("pca")
def pca_command(
    output: OutputOpt,
    samples: Annotated[int, typer.Option("--samples", min=2, help="Number of z samples.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the z samples.")] = 0,
    k: Annotated[int, typer.Option("-k", min=1, help="Number of components.")] = 10,
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    network: NetworkOpt = "demo",
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """GANSpace in W: principal components of mapped random z (values: std along each)."""
    from projector.edits import pca

    G = _prepare(output, force, network, device)
    _report(pca(G, samples, seed, k, trunc, class_idx), output, "PCA", "std")


@app.command("svm")
def svm_command(
    output: OutputOpt,
    labels: Annotated[Path | None, typer.Option("--labels", help="CSV of 'latent,score' rows; latent = seed or "
                                                                 "latent file.")] = None,
    attribute: Annotated[str | None, typer.Option("--attribute", help="Instead of --labels: score generated images "
                                                                      "with the attribute predictor, e.g. smile.")] = None,
    predictor: Annotated[Path | None, typer.Option("--predictor", help="Saved attribute predictor (default: the "
                                                                       "shipped demo-world predictor).")] = None,
    samples: Annotated[int, typer.Option("--samples", min=10, help="Generated images to score with "
                                                                   "--attribute.")] = 2000,
    sample_seed: Annotated[int, typer.Option("--sample-seed", help="Seed of their z (RandomState).")] = 0,
    method: Annotated[Method, typer.Option("--method", help="Linear classifier.")] = Method.linear_svm,
    threshold: Annotated[float | None, typer.Option("--threshold", parser=finite(), help="Score above which a latent is positive "
                                                                       "(default: the median).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", parser=finite(0.0, 0.95),
                                                help="Share held out to measure accuracy.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/validation split.")] = 0,
    condition_on: Annotated[list[str] | None, typer.Option("--condition-on", help="Directions to keep fixed: "
                                                                                  "FILE or FILE:INDEX "
                                                                                  "(repeatable).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name of the direction (default: the attribute, or the "
                                                            "labels file's stem).")] = None,
    trunc: TruncOpt = 1.0,
    class_idx: ClassOpt = None,
    network: NetworkOpt = "demo",
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """InterFaceGAN: the normal of a linear boundary between high- and low-scoring latents."""
    from projector.edits import fit_direction, labels_from_attribute, labels_from_csv, select_directions
    from projector.latent_file import model_provenance
    from stylegan2_core.errors import InputError

    from .._console import progress

    if (labels is None) == (attribute is None):
        raise InputError("directions svm: give exactly one of --labels CSV or --attribute NAME")
    if predictor is not None and attribute is None:
        raise InputError("--predictor scores images for --attribute; give the attribute's name")
    G = _prepare(output, force, network, device)
    if labels is not None:
        ws, scores = labels_from_csv(labels, G, truncation_psi=trunc, class_idx=class_idx)
        source = str(labels)
    else:
        with progress() as bar:
            task = bar.add_task(f"scoring {attribute}", total=samples, status="")
            ws, scores = labels_from_attribute(G, attribute, samples, sample_seed, predictor, truncation_psi=trunc,
                                               class_idx=class_idx, progress=lambda n: bar.advance(task, n))
        source = f"predictor {predictor or 'world (shipped)'}: {attribute} on {samples} images, seed {sample_seed}"
    conditions = select_directions(condition_on, G.num_ws) if condition_on else None
    if conditions is not None and conditions.shape[-1] != G.w_dim:
        raise InputError(f"--condition-on: directions have w_dim {conditions.shape[-1]}, the network {G.w_dim}")
    name = name or attribute or labels.stem
    ds = fit_direction(ws, scores, method.value, threshold, val_fraction, seed, conditions, name=name)
    ds.meta.update(**model_provenance(G), labels=source)
    _report(ds, output, f"InterFaceGAN ({method.value}, {len(scores)} samples)", f"{ds.meta['accuracy_on']} accuracy")
