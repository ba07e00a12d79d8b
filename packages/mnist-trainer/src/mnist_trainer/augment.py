"""Batch augmentation on image tensors: random shifts and horizontal flips.

Both run on the whole batch at once (no per-image Python loop) and draw from an explicit
`torch.Generator`, so a run is reproducible and resumable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move each (H, W) image by up to `max_shift` pixels each way, filling with zeros."""
    if max_shift == 0:
        return images
    n, height, width = images.shape
    dy = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator)
    dx = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator)
    padded = F.pad(images, (max_shift, max_shift, max_shift, max_shift))
    rows = (torch.arange(height) + max_shift)[None, :] - dy[:, None]  # (n, H)
    cols = (torch.arange(width) + max_shift)[None, :] - dx[:, None]  # (n, W)
    device = images.device
    batch = torch.arange(n, device=device)[:, None, None]
    return padded[batch, rows[:, :, None].to(device), cols[:, None, :].to(device)]


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability one half."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    flip = flip.to(images.device)[:, None, None]
    return torch.where(flip, images.flip(-1), images)


def augment(
    images: torch.Tensor, max_shift: int, flip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Apply the configured augmentations to a batch shaped (N, 28, 28)."""
    images = random_shift(images, max_shift, generator)
    if flip:
        images = random_flip(images, generator)
    return images
