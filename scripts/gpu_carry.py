"""Put what the GPU check needs into the two ignored folders that travel with it.

    uv run python scripts/gpu_carry.py      # fills .whl/ and .data/fashion-mnist/

The GPU host has no network and no pycuda, and its own grpcio and protobuf may be older
than our generated stubs need, so everything `scripts/gpu_check.py` installs there is
prepared here:

- `.whl/`: pycuda for CPython 3.12 with its dependencies (`build_pycuda_wheel.py`, about
  two minutes the first time; kept in `~/.cache/pycuda-wheels` per pycuda version), our
  four packages built as wheels, and the wheels of the service and its tests that the host
  lacks, at the versions `uv.lock` pins;
- `.data/fashion-mnist/`: the four Fashion-MNIST files, from `--data-dir`,
  `$FASHION_MNIST_DIR` or `/usr/share/datasets/fashion-mnist` (`apt-get install
  dataset-fashion-mnist`).

Then run the check with the device tool: command `python3 scripts/gpu_check.py`, carry
`[".whl", ".data"]`. What travels must stay under 64 MiB in all; this script checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import build_pycuda_wheel
from release_tools.cli import OneLineArgumentParser, run_script
from release_tools.commands import capture, run
from release_tools.errors import ReleaseError

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("autograd", "nn", "cuda-kernels", "mnist-trainer")
#: Needed on the GPU host and missing there, or there at versions we have not tested with.
HOST_LACKS = (
    "grpcio", "protobuf", "grpcio-health-checking", "grpcio-reflection", "prometheus-client",
    "threadpoolctl", "cryptography", "cffi", "pycparser",
)  # fmt: skip
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
    raise ReleaseError(
        "no Fashion-MNIST files found; install them with `apt-get install "
        "dataset-fashion-mnist` or pass --data-dir DIR holding " + ", ".join(DATA_FILES)
    )


def pycuda_wheelhouse(wheels: Path) -> None:
    """pycuda for 3.12 and its dependencies, copied from the user's cache, where they are
    built once per locked set of versions (about two minutes): fresh clones, CI's included,
    reuse them. A build lands there only whole, smoke test passed."""
    pins = build_pycuda_wheel.locked_closure(REPO_ROOT / "uv.lock")
    key = hashlib.sha256(json.dumps(pins, sort_keys=True).encode()).hexdigest()[:12]
    cache = PYCUDA_CACHE / f"pycuda-{pins['pycuda']}-{key}"
    if not cache.is_dir():
        building = cache.with_name(f"{cache.name}.building")
        shutil.rmtree(building, ignore_errors=True)
        if build_pycuda_wheel.main([str(building), "--python", "3.12"]) != 0:
            raise ReleaseError("building the pycuda wheel failed (its output is above)")
        building.rename(cache)
    for wheel in cache.glob("*.whl"):
        shutil.copyfile(wheel, wheels / wheel.name)


def our_wheels(wheels: Path) -> None:
    """Our four packages, built as users get them."""
    for name in PACKAGES:
        run(["uv", "build", "-q", "--package", name, "--no-sources", "--wheel", "-o", wheels],
            cwd=REPO_ROOT, what=f"build the {name} wheel", quiet=True)  # fmt: skip


def service_wheels(wheels: Path) -> None:
    """The service's and its tests' wheels the host lacks, as `uv.lock` pins them."""
    locked = build_pycuda_wheel.locked_versions(REPO_ROOT / "uv.lock")
    pins = {name: locked[name] for name in HOST_LACKS}
    build_pycuda_wheel.download_dependencies(pins, "3.12", wheels)


def copy_data(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        shutil.copyfile(source / name, target / name)


def check_ignored(*folders: Path) -> None:
    """Both folders must be ignored by git: only ignored folders can be carried."""
    for folder in folders:
        relative = folder.relative_to(REPO_ROOT)
        try:
            capture(["git", "check-ignore", "-q", str(relative)], cwd=REPO_ROOT,
                    what=f"check that {relative} is ignored")  # fmt: skip
        except ReleaseError:
            raise ReleaseError(f"{relative}/ is not ignored by git; add /{relative}/ to "
                               ".gitignore so it can travel as a carried folder") from None


def total_bytes(*folders: Path) -> int:
    return sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with the four Fashion-MNIST files")
    args = parser.parse_args(argv)
    wheels, data = REPO_ROOT / ".whl", REPO_ROOT / ".data"
    wheels.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    check_ignored(wheels, data)
    for old in wheels.glob("*.whl"):  # refilled whole, so no older version lingers
        old.unlink()
    source = find_data(args.data_dir)
    pycuda_wheelhouse(wheels)
    our_wheels(wheels)
    service_wheels(wheels)
    copy_data(source, data / "fashion-mnist")
    size = total_bytes(wheels, data)
    print(f"carry .whl and .data: {size / 2**20:.1f} MiB ({len(list(wheels.glob('*.whl')))} "
          f"wheels; data from {source})")  # fmt: skip
    if size > CARRY_LIMIT:
        raise ReleaseError(f"{size / 2**20:.1f} MiB is over the 64 MiB that may travel")
    return 0


if __name__ == "__main__":
    run_script(main, "gpu_carry")
