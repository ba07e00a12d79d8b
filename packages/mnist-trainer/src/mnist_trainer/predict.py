"""Reading images to classify: 28x28 grayscale PNGs and IDX files (`mnist-train predict`).

The model was trained on Fashion-MNIST's format: 28x28 pixels, 8-bit grayscale, a light
object on a black background. A PNG of any other size is refused rather than resized, so
that nobody gets confident-looking answers about a picture the model never really saw.
Colour PNGs are converted to grayscale (luminance), and transparency is dropped.
"""

from __future__ import annotations

import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import CLASS_NAMES
from .errors import CorruptDataError, TrainerError
from .idx import read_idx

# An IDX file given to `predict` may hold up to this many images (about 100 MB).
MAX_PREDICT_IMAGES = 128_000


def _gray(image: Any) -> np.ndarray:
    """8-bit gray pixels; 16-bit gray is scaled (65535 -> 255), never clipped."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grayscale PNG
        wide = np.asarray(image, dtype=np.float64)
        return np.clip(np.rint(wide * (255 / 65535)), 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def read_png(path: Path) -> np.ndarray:
    """One (28, 28) uint8 image from a PNG file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its pixel limit: make that a refusal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format != "PNG":
                    raise TrainerError(f"{path}: a {image.format} image, not a PNG or IDX file")
                if image.size != (28, 28):
                    width, height = image.size
                    raise TrainerError(
                        f"{path}: {width}x{height} pixels; the model takes 28x28 grayscale "
                        "images (a light object on black, as in Fashion-MNIST): resize it first"
                    )
                return _gray(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TrainerError(
            f"{path}: refused unread, it announces far more than 28x28 pixels ({exc})"
        ) from None
    except ValueError as exc:
        # Pillow's limits on what text and colour-profile chunks may inflate to; any other
        # ValueError is a broken file, not a bomb.
        if any(limit in str(exc) for limit in ("too large", "Too much memory")):
            raise TrainerError(
                f"{path}: refused, a text or colour-profile chunk inflates past the size limit "
                f"(a decompression bomb: {exc})"
            ) from None
        raise TrainerError(f"{path}: cannot be read as an image ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError) as exc:
        raise TrainerError(f"{path}: cannot be read as an image ({exc})") from None


def _check_regular(path: Path) -> None:
    """Only regular files: a FIFO would block the read, a folder cannot be read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise TrainerError(f"{path}: no such file") from None
    except OSError as exc:
        raise TrainerError(f"{path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a pipe, socket or device"
        raise TrainerError(f"{path}: not a regular file ({kind}); give a PNG or IDX file")


def read_images(path: Path) -> tuple[list[str], np.ndarray]:
    """Names and (N, 28, 28) uint8 images from a PNG or an IDX file (`.gz` or not)."""
    _check_regular(path)
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
    if len(images) == 0:
        raise CorruptDataError(f"{path}: the IDX file holds no images (shape {images.shape})")
    return [f"{path}[{i}]" for i in range(len(images))], images


@torch.no_grad()
def classify(model: torch.nn.Module, images: np.ndarray) -> list[tuple[str, float]]:
    """The most likely class name and its probability, for each (28, 28) uint8 image."""
    x = torch.tensor(images, dtype=torch.float32) / 255.0
    probabilities = torch.softmax(model.eval()(x), dim=1)
    best = probabilities.max(dim=1)
    return [(CLASS_NAMES[int(i)], float(p)) for i, p in zip(best.indices, best.values, strict=True)]
