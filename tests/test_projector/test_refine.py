"""The L-BFGS refinement that ends a projection: each row its own minimizer, and a lower distance."""

import torch

from projector import ProjectorConfig, project
from projector.refine import lbfgs_step, new_memory
from stylegan2_core import z_from_seeds


def _quadratics(rows: int, dim: int, condition: float):
    """Per-row ill-conditioned quadratics 0.5 (x - c)^T A (x - c) in float64, and their minimizers c."""
    gen = torch.Generator().manual_seed(0)
    rotations = torch.linalg.qr(torch.randn(rows, dim, dim, generator=gen, dtype=torch.float64))[0]
    scales = torch.logspace(0, torch.log10(torch.tensor(condition)).item(), dim, dtype=torch.float64)
    A = rotations @ torch.diag(scales) @ rotations.transpose(1, 2)
    centers = torch.randn(rows, dim, generator=gen, dtype=torch.float64)

    def evaluate(points, rows_):
        diff = points - centers[rows_]
        grad = torch.einsum("rij,rj->ri", A[rows_], diff)
        return 0.5 * (diff * grad).sum(1), grad, points.clone()

    return evaluate, centers


def _minimize(evaluate, x, iterations, memory=6):
    loss, grad, seen = evaluate(x, torch.arange(x.shape[0]))
    mem = new_memory(loss, grad, memory)
    seen = [seen]
    for _ in range(iterations):
        lbfgs_step(evaluate, x, mem, seen)
    return x, mem, seen


def test_lbfgs_matches_torch_lbfgs_while_full_steps_are_taken():
    """Without backtracking the iterates are torch.optim.LBFGS's (same memory, first step and scaling)."""
    evaluate, _ = _quadratics(rows=1, dim=6, condition=10)
    reference = torch.zeros(1, 6, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([reference], lr=1, max_iter=1, history_size=4, tolerance_grad=0, tolerance_change=0)

    def closure():
        loss, reference.grad, _ = evaluate(reference.detach(), torch.tensor([0]))
        return loss.sum()

    x = torch.zeros(1, 6, dtype=torch.float64)
    loss, grad, seen = evaluate(x, torch.tensor([0]))
    mem = new_memory(loss, grad, 4)
    for _ in range(5):
        optimizer.step(closure)
        assert lbfgs_step(evaluate, x, mem, [seen]) == 1.0
        torch.testing.assert_close(x, reference.detach(), atol=1e-12, rtol=0)


def test_lbfgs_reaches_each_rows_minimizer():
    evaluate, centers = _quadratics(rows=3, dim=12, condition=1e3)
    x, _, seen = _minimize(evaluate, torch.zeros(3, 12, dtype=torch.float64), iterations=120)
    torch.testing.assert_close(x, centers, atol=1e-3, rtol=0)
    assert torch.equal(seen[0], x)  # the outputs of every row's accepted point are kept
    # Gradient descent with the best fixed step stays far away after as many evaluations.
    gd = torch.zeros(3, 12, dtype=torch.float64)
    for _ in range(120):
        gd -= evaluate(gd, torch.arange(3))[1] / 1e3
    assert (gd - centers).abs().max() > 0.1


def test_rows_do_not_influence_each_other():
    """A row's iterates are the same alone and in a batch, whatever the other rows' line searches do."""
    evaluate, _ = _quadratics(rows=3, dim=8, condition=1e2)
    batch, _, _ = _minimize(evaluate, torch.ones(3, 8, dtype=torch.float64), iterations=7)
    for r in range(3):
        def alone(points, rows, r=r):
            return evaluate(points, torch.full_like(rows, r))

        single, _, _ = _minimize(alone, torch.ones(1, 8, dtype=torch.float64), iterations=7)
        torch.testing.assert_close(single[0], batch[r], atol=1e-12, rtol=0)


def test_a_row_that_cannot_descend_stops_where_it_is():
    """At a minimum no step satisfies the Armijo condition: the row stays and leaves the active set."""
    evaluate, centers = _quadratics(rows=2, dim=4, condition=10)
    x = centers.clone()
    x[1] += 1
    loss, grad, seen = evaluate(x, torch.arange(2))
    grad[0] = 1.0  # a wrong gradient at the minimum: every step along -grad goes uphill
    mem = new_memory(loss.clone(), grad, 4)
    lbfgs_step(evaluate, x, mem, [seen])
    assert torch.equal(x[0], centers[0]) and mem["active"].tolist() == [False, True]
    assert mem["loss"][1] < loss[1]


def test_refinement_lowers_the_projection_distance(G, pixel_distance):
    with torch.no_grad():
        targets = G(z_from_seeds([21, 22], G.z_dim), noise_mode="const")
    adam = ProjectorConfig(steps=20, space="w+", initial_lr=0.05, initial_noise_factor=0.0, w_avg_samples=500)
    before = project(G, targets, adam, distance=pixel_distance)
    steps = []
    refined = project(G, targets, ProjectorConfig(**{**adam.__dict__, "refine_steps": 15}), distance=pixel_distance,
                      callback=lambda s: steps.append((s.step, s.num_steps, s.images.shape[0])))
    assert refined.steps == 35 and steps == [(k, 35, 2) for k in range(35)]
    assert (refined.distance < 0.5 * before.distance).all()
    with torch.no_grad():  # the reported distance is the returned latents' and noise maps'
        torch.testing.assert_close(refined.distance, pixel_distance(G.synthesis(refined.ws, noise=refined.noise),
                                                                     targets))
