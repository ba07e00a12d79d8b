"""Reading images to classify: 28x28 grayscale PNGs and IDX files (`mnist-train predict`).

The model was trained on Fashion-MNIST's format: 28x28 pixels, 8-bit grayscale, a light
object on a black background. A PNG of any other size is refused rather than resized, so
that nobody gets confident-looking answers about a picture the model never really saw.
Colour PNGs are converted to grayscale (luminance), and transparency is dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data import CLASS_NAMES
from .errors import CorruptDataError, TrainerError
from .idx import read_idx

# An IDX file given to `predict` may hold up to this many images (about 100 MB).
MAX_PREDICT_IMAGES = 128_000


def read_png(path: Path) -> np.ndarray:
    """One (28, 28) uint8 image from a PNG file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise TrainerError(f"{path}: a {image.format} image, not a PNG or IDX file")
            if image.size != (28, 28):
                width, height = image.size
                raise TrainerError(
                    f"{path}: {width}x{height} pixels; the model takes 28x28 grayscale "
                    "images (a light object on black, as in Fashion-MNIST): resize it first"
                )
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise TrainerError(f"{path}: cannot be read as an image ({exc})") from None


def read_images(path: Path) -> tuple[list[str], np.ndarray]:
    """Names and (N, 28, 28) uint8 images from a PNG or an IDX file (`.gz` or not)."""
    if not path.is_file():
        raise TrainerError(f"{path}: no such file")
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(b"\x89PNG"):
        return [str(path)], read_png(path)[None]
    if not (magic[:2] == b"\x00\x00" or magic[:2] == b"\x1f\x8b"):
        raise TrainerError(f"{path}: neither a PNG nor an IDX file (.gz or not)")
    images = read_idx(path, max_bytes=16 + MAX_PREDICT_IMAGES * 784)
    if images.shape == (28, 28):
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptDataError(
            f"{path}: IDX array of shape {images.shape}; expected (N, 28, 28) or (28, 28) images"
        )
    return [f"{path}[{i}]" for i in range(len(images))], images


@torch.no_grad()
def classify(model: torch.nn.Module, images: np.ndarray) -> list[tuple[str, float]]:
    """The most likely class name and its probability, for each (28, 28) uint8 image."""
    x = torch.tensor(images, dtype=torch.float32) / 255.0
    probabilities = torch.softmax(model.eval()(x), dim=1)
    best = probabilities.max(dim=1)
    return [(CLASS_NAMES[int(i)], float(p)) for i, p in zip(best.indices, best.values, strict=True)]
