"""Find, verify, download and split Fashion-MNIST.

The lookup order is the one a user expects: an explicit `--data-dir`, then
`$FASHION_MNIST_DIR`, then our user cache folder, then Debian's `dataset-fashion-mnist`
install folder, and only then a download (into the cache folder). Every file is checked
against the published digests, so a bad copy can never train silently.

A folder may hold the four files itself (the flat layout) or in torchvision's layout,
`ROOT/FashionMNIST/raw/` (where `torchvision.datasets.FashionMNIST(ROOT)` keeps them), so
a copy made for torchvision is used as it is.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import CorruptDataError, DataNotFoundError
from .idx import parse_idx, read_bytes

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Pixel statistics of the 60,000 training images scaled to [0, 1]; tests/test_data.py
# recomputes them from the real files (test_real_files_load_with_published_shapes_and_checksums).
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
OFFICIAL_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MIRROR_ENV = "FASHION_MNIST_MIRROR"
DIR_ENV = "FASHION_MNIST_DIR"
TORCHVISION_SUBDIR = Path("FashionMNIST", "raw")


@dataclass(frozen=True)
class DataFile:
    """One of the four official files, with the digests that prove a copy is genuine."""

    stem: str  # name without `.gz`
    gz_md5: str  # MD5 of the published .gz (the dataset's README)
    content_md5: str  # MD5 of the decompressed IDX bytes (same for every honest copy)
    content_bytes: int


FILES = {
    "train_images": DataFile(
        "train-images-idx3-ubyte",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        47040016,
    ),
    "train_labels": DataFile(
        "train-labels-idx1-ubyte",
        "25c81989df183df01b3e8a0aad5dffbe",
        "9018921c3c673c538a1fc5bad174d6f9",
        60008,
    ),
    "test_images": DataFile(
        "t10k-images-idx3-ubyte",
        "bef4ecab320f06d8554ea6380940ec79",
        "8181f5470baa50b63fa0f6fddb340f0a",
        7840016,
    ),
    "test_labels": DataFile(
        "t10k-labels-idx1-ubyte",
        "bb300cfdad3c16e7a12a480ee83cd310",
        "15d484375f8d13e6eb1aabb0c3f46965",
        10008,
    ),
}


@dataclass(frozen=True)
class FashionMNIST:
    """The official split as uint8 arrays: images (N, 28, 28), labels (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path


def cache_dir() -> Path:
    """Where downloads go and where we look third: the per-user cache folder.

    $XDG_CACHE_HOME (default ~/.cache) on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA%
    on Windows, each with mnist-trainer/fashion-mnist below it.
    """
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        root = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "mnist-trainer" / "fashion-mnist"


def candidate_dirs(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The folders searched, in order: only `data_dir` when one is given."""
    if data_dir is not None:
        return [Path(data_dir)]
    places = [Path(os.environ[DIR_ENV])] if os.environ.get(DIR_ENV) else []
    return [*places, cache_dir(), DEBIAN_DIR]


def _file_in(folder: Path, spec: DataFile) -> Path | None:
    for name in (spec.stem + ".gz", spec.stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _missing(folder: Path, files: Mapping[str, DataFile]) -> list[str]:
    return [f"{spec.stem}(.gz)" for spec in files.values() if _file_in(folder, spec) is None]


def _layouts(folder: Path) -> tuple[Path, Path]:
    """Where the files may be under `folder`: in it, or in torchvision's FashionMNIST/raw."""
    return folder, folder / TORCHVISION_SUBDIR


def find_data_dir(
    places: Sequence[Path], files: Mapping[str, DataFile] | None = None
) -> Path | None:
    """The first folder that holds all four files (each `.gz` or uncompressed), each place
    looked at in both layouts."""
    for place in places:
        for folder in _layouts(place):
            if not _missing(folder, files or FILES):
                return folder
    return None


def _load_verified(path: Path, spec: DataFile, verify: bool) -> np.ndarray:
    # Read no more than the published size: a bloated file is refused before it fills memory.
    content = read_bytes(path, max_bytes=spec.content_bytes)
    if verify:
        digest = hashlib.md5(content, usedforsecurity=False).hexdigest()
        if digest != spec.content_md5:
            raise CorruptDataError(
                f"{path}: content MD5 {digest} is not the published {spec.content_md5} "
                f"({len(content)} bytes, expected {spec.content_bytes}); the file is corrupt "
                "or not Fashion-MNIST: replace it with a good copy"
            )
    return parse_idx(content, str(path))


def _check_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise CorruptDataError(
            f"{folder}: {split} images have shape {images.shape} and labels "
            f"{labels.shape}; expected (N, 28, 28) and (N,)"
        )
    if len(images) != len(labels):
        raise CorruptDataError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise CorruptDataError(f"{folder}: {split} labels go up to {labels.max()}, not 9")


def load_from(
    folder: Path,
    verify: bool = True,
    files: Mapping[str, DataFile] | None = None,
    splits: Sequence[str] = ("train", "test"),
) -> FashionMNIST:
    """Load and check the files of `splits` in `folder` (the others stay empty)."""
    files = files or FILES
    arrays = {key: np.zeros((0, 28, 28) if "images" in key else 0, np.uint8) for key in files}
    for split in splits:
        for kind in ("images", "labels"):
            spec = files[f"{split}_{kind}"]
            path = _file_in(folder, spec)
            if path is None:
                raise DataNotFoundError(f"{folder}: {spec.stem}(.gz) is missing")
            arrays[f"{split}_{kind}"] = _load_verified(path, spec, verify)
        _check_split(folder, split, arrays[f"{split}_images"], arrays[f"{split}_labels"])
    return FashionMNIST(**arrays, source=folder)


def _download_one(url: str, destination: Path, spec: DataFile, progress: bool) -> None:
    """Fetch one .gz into `destination`, checking its MD5 before it is put in place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    md5 = hashlib.md5(usedforsecurity=False)
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=destination.name + ".")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(url, timeout=30) as response,
            tqdm(
                total=int(response.headers.get("Content-Length") or 0) or None,
                disable=not progress,
                unit="B",
                unit_scale=True,
                desc=destination.name,
            ) as download_bar,
        ):
            while chunk := response.read(1 << 16):
                out.write(chunk)
                md5.update(chunk)
                download_bar.update(len(chunk))
        if md5.hexdigest() != spec.gz_md5:
            raise CorruptDataError(
                f"{url}: downloaded file has MD5 {md5.hexdigest()}, not the published "
                f"{spec.gz_md5}; the mirror served a bad copy, try again later"
            )
        os.replace(tmp_name, destination)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def download(
    target: Path,
    mirror: str | None = None,
    progress: bool = True,
    files: Mapping[str, DataFile] | None = None,
) -> Path:
    """Download the four files into `target`, verifying each against `files`' MD5s."""
    base = mirror or os.environ.get(MIRROR_ENV) or OFFICIAL_MIRROR
    if not base.endswith("/"):
        base += "/"
    for spec in (files or FILES).values():
        destination = target / (spec.stem + ".gz")
        if not destination.is_file():
            _download_one(base + spec.stem + ".gz", destination, spec, progress)
    return target


def _not_found_message(places: Sequence[Path], reason: str | None) -> str:
    searched = ", ".join(str(p) for p in places)
    local_fixes = (
        "pass --data-dir or set FASHION_MNIST_DIR to a folder holding the four official "
        "*-ubyte(.gz) files (in it, or in its FashionMNIST/raw as torchvision keeps them), "
        "or `apt-get install dataset-fashion-mnist`"
    )
    if reason is None:  # downloads are off: the fixes are local ones only
        return f"Fashion-MNIST not found (searched {searched}); {local_fixes}"
    return (
        f"Fashion-MNIST not found (searched {searched}) and the download failed ({reason}). "
        f"Fix it one of three ways: {local_fixes}; or connect to the internet and run "
        f"again to download into {cache_dir()}"
    )


def locate(
    data_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
    progress: bool = True,
    files: Mapping[str, DataFile] | None = None,
) -> Path:
    """Return the folder to read from, downloading into the cache folder if needed.

    An explicit `data_dir` is the only place looked at (in both layouts): a folder without
    the four files is an error naming what is missing, never a silent fall-back to another
    copy.
    """
    files = files or FILES
    if data_dir is not None:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise DataNotFoundError(f"--data-dir {folder} is not a folder")
        found = find_data_dir([folder], files)
        if found is None:
            raise DataNotFoundError(
                f"--data-dir {folder} lacks {', '.join(_missing(folder, files))}: it must "
                "hold the four official Fashion-MNIST files (.gz or not), in it or in "
                f"torchvision's layout, {folder / TORCHVISION_SUBDIR}"
            )
        return found
    places = candidate_dirs(None)
    found = find_data_dir(places, files)
    if found is not None:
        return found
    if not allow_download:
        raise DataNotFoundError(_not_found_message(places, None))
    try:
        return download(cache_dir(), progress=progress, files=files)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataNotFoundError(_not_found_message(places, str(reason))) from exc


def load(
    data_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
    progress: bool = True,
    splits: Sequence[str] = ("train", "test"),
) -> FashionMNIST:
    """Find (or download) and load Fashion-MNIST, verified against the published digests.

    Only the files of `splits` are looked for, downloaded and read (the other arrays stay
    empty): loaded with `("train",)`, as `tune` does, the test files are never opened."""
    files = {key: spec for key, spec in FILES.items() if key.split("_")[0] in splits}
    return load_from(locate(data_dir, allow_download, progress, files), splits=splits)


def split_train_val(
    images: np.ndarray, labels: np.ndarray, val_size: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Carve a validation set off the training set with a fixed, seeded permutation.

    The split seed is separate from the training seed so that runs with different training
    seeds are selected on the same validation images.
    """
    if not 0 <= val_size < len(images):
        raise ValueError(f"val_size must be in [0, {len(images)}), got {val_size}")
    order = np.random.default_rng(seed).permutation(len(images))
    val, train = order[:val_size], order[val_size:]
    return images[train], labels[train], images[val], labels[val]
