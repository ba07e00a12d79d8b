"""Put what the GPU check needs into the two ignored folders that travel with it.

    uv run python scripts/gpu_carry.py      # fills .whl/ and .data/fashion-mnist/

The GPU host has no network and no pycuda, and its grpcio and protobuf may be older than
our stubs need, so all that `scripts/gpu_check.py` installs there is prepared here: in
`.whl/`, pycuda for CPython 3.12 and its dependencies (built once per locked version set,
about two minutes, and kept in `~/.cache/pycuda-wheels`), our four packages as wheels, and
the service's and its tests' wheels at the versions `uv.lock` pins; in `.data/`, the
Fashion-MNIST files (from `--data-dir`, `$FASHION_MNIST_DIR` or `apt-get install
dataset-fashion-mnist`). What travels must stay under 64 MiB; this script checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import build_pycuda_wheel
from build_pycuda_wheel import locked_closure
from release_tools.cli import OneLineArgumentParser, run_script
from release_tools.commands import capture, run
from release_tools.errors import ReleaseError

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "uv.lock"
PACKAGES = ("autograd", "nn", "cuda-kernels", "mnist-trainer")
#: What the service and its tests need beyond the host's own packages (with their locked
#: closure, grpcio and protobuf included: the host's may be older than our stubs need).
SERVICE_NEEDS = ("grpcio-health-checking", "grpcio-reflection", "prometheus-client",
                 "threadpoolctl", "cryptography")  # fmt: skip
DATA_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip
CARRY_LIMIT = 64 * 2**20
PYCUDA_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pycuda-wheels"


def find_data(given: Path | None) -> Path:
    """The first folder holding the four files: the flag, the variable, apt's folder."""
    candidates = [given, os.environ.get("FASHION_MNIST_DIR"), "/usr/share/datasets/fashion-mnist"]
    for folder in filter(None, candidates):
        if all((Path(folder) / name).is_file() for name in DATA_FILES):
            return Path(folder)
    raise ReleaseError("no Fashion-MNIST files found; install them with `apt-get install "
                       "dataset-fashion-mnist` or pass --data-dir DIR holding them")  # fmt: skip


def pycuda_wheelhouse(wheels: Path) -> None:
    """pycuda and its dependencies, copied from the cache where each locked set of versions
    is built once per recipe (fresh clones, CI's included, reuse it); a build lands there
    only whole."""
    pins = locked_closure(LOCK)
    recipe = Path(build_pycuda_wheel.__file__).read_text() + json.dumps(pins, sort_keys=True)
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    cache = PYCUDA_CACHE / f"pycuda-{pins['pycuda']}-{key}"
    if not cache.is_dir():
        building = cache.with_name(f"{cache.name}.building")
        shutil.rmtree(building, ignore_errors=True)
        build_pycuda_wheel.main([str(building), "--python", "3.12"])
        building.rename(cache)
    for wheel in cache.glob("*.whl"):
        shutil.copyfile(wheel, wheels / wheel.name)


def check_ignored(folder: Path) -> None:
    """Only folders git ignores can be carried."""
    try:
        capture(["git", "check-ignore", "-q", folder.name], cwd=REPO_ROOT, what="git check-ignore")
    except ReleaseError:
        raise ReleaseError(f"{folder.name}/ is not ignored by git; add /{folder.name}/ to "
                           ".gitignore so it can travel as a carried folder") from None


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with the four Fashion-MNIST files")
    args = parser.parse_args(argv)
    wheels, data = REPO_ROOT / ".whl", REPO_ROOT / ".data"
    for folder in (wheels, data / "fashion-mnist"):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in (wheels, data):
        check_ignored(folder)
    source = find_data(args.data_dir)
    for old in wheels.glob("*.whl"):  # refilled whole, so no older version lingers
        old.unlink()
    pycuda_wheelhouse(wheels)
    for name in PACKAGES:  # built as users get them
        run(["uv", "build", "-q", "--package", name, "--no-sources", "--wheel", "-o", wheels],
            cwd=REPO_ROOT, what=f"build the {name} wheel", quiet=True)  # fmt: skip
    build_pycuda_wheel.download_dependencies(locked_closure(LOCK, *SERVICE_NEEDS), "3.12", wheels)
    for name in DATA_FILES:
        shutil.copyfile(source / name, data / "fashion-mnist" / name)
    size = sum(p.stat().st_size for f in (wheels, data) for p in f.rglob("*") if p.is_file())
    print(f"carry .whl and .data: {size / 2**20:.1f} MiB ({len(list(wheels.glob('*.whl')))} "
          f"wheels; data from {source})")  # fmt: skip
    if size > CARRY_LIMIT:
        raise ReleaseError(f"{size / 2**20:.1f} MiB is over the 64 MiB that may travel")
    return 0


if __name__ == "__main__":
    run_script(main, "gpu_carry")
