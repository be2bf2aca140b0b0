"""What a projection minimizes: each image's perceptual distance to its own target (plus an optional pixel
MSE term), with the targets' features computed once."""

import torch

from .optim import loss_input

__all__ = ["ProjectionObjective"]


class ProjectionObjective:
    """The targets [N, C, R, R] as the loss sees them: downsampled to ``resolution`` and, for a distance
    with ``embed`` / ``distance`` (``projector.losses``), embedded once.

    Rows of an optimized batch map to targets by ``own_targets``: ``rows // N`` consecutive rows per
    image (several starts per image side by side). ``render_batch``: how many candidate images
    ``candidate_distances`` embeds at a time.
    """

    def __init__(self, target: torch.Tensor, distance, resolution: int, mse_weight: float, render_batch: int):
        self.target, self.distance, self.resolution = target, distance, resolution
        self.mse_weight, self.render_batch = mse_weight, render_batch
        self.target_small = loss_input(target, resolution)
        self.cached = hasattr(distance, "embed") and hasattr(distance, "distance")
        with torch.no_grad():
            self.target_features = distance.embed(self.target_small) if self.cached else None

    def own_targets(self, rows: int) -> torch.Tensor:
        """The target of each of ``rows`` optimized rows (``rows // N`` consecutive rows per image)."""
        n = self.target.shape[0]
        return torch.arange(n, device=self.target.device).repeat_interleave(rows // n)

    def perceptual(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Distance of each image to its target: ``targets[i]`` (default: ``own_targets``)."""
        images = loss_input(images, self.resolution)
        if targets is None:
            targets = self.own_targets(images.shape[0])
        if self.cached:
            return self.distance.distance(self.distance.embed(images), [f[targets] for f in self.target_features])
        return self.distance(images, self.target_small[targets])

    def image_loss(self, synth: torch.Tensor, targets: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, perceptual distance) of each image: the distance plus the optional pixel MSE term,
        against ``targets[i]`` (default: ``own_targets``)."""
        if targets is None:
            targets = self.own_targets(synth.shape[0])
        dist = self.perceptual(synth, targets)
        if not self.mse_weight:
            return dist, dist
        return dist + self.mse_weight * (synth - self.target[targets]).square().mean(dim=(1, 2, 3)), dist

    def candidate_distances(self, images: torch.Tensor, indices: list[int]) -> torch.Tensor:
        """[len(indices), K]: every candidate image against every listed target (features computed once)."""
        images = loss_input(images, self.resolution)
        parts = images.split(self.render_batch)
        if self.cached:
            feats = [torch.cat(maps) for maps in zip(*(self.distance.embed(x) for x in parts))]
            return torch.stack([self.distance.distance(feats, [f[i:i + 1].expand_as(g)
                                                               for f, g in zip(self.target_features, feats)])
                                for i in indices])
        return torch.stack([torch.cat([self.distance(x, self.target_small[i:i + 1].expand_as(x)) for x in parts])
                            for i in indices])
