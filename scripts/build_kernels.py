"""Build the fatbins `cuda-kernels` ships (one per `.cu` file), or check the committed ones.

    uv run --group kernels-build python scripts/build_kernels.py           # rebuild in place
    uv run --group kernels-build python scripts/build_kernels.py --check   # CI: exit 1 if stale

Why a script with a pinned compiler: the fatbins are committed package data, so they must
be reproducible from the repository alone. nvcc comes from PyPI's `nvidia-cuda-nvcc`
wheel at the version `uv.lock` pins (the `kernels-build` dependency group, CUDA 13.0: the
driver generation the project targets), and its output is byte for byte the same on every
run. The architectures, flags and defines come from `cuda_kernels.kernels.prebuilt` and
`ladder`, the same facts the backend uses when it compiles at run time.

`--check` rebuilds into a temporary folder and fails unless every committed fatbin and the
manifest are identical to the rebuild, and unless `cuobjdump` (PyPI's
`nvidia-cuda-cuobjdump`) lists every kernel in the SASS of every architecture and in the
PTX. It needs no GPU.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from release_tools.cli import OneLineArgumentParser, run_script
from release_tools.commands import capture
from release_tools.errors import ReleaseError

from cuda_kernels.kernels import ladder, prebuilt

REPO_ROOT = Path(__file__).resolve().parent.parent
KERNELS_DIR = REPO_ROOT / "packages" / "cuda-kernels" / "src" / "cuda_kernels" / "kernels"
PREBUILT_DIR = KERNELS_DIR / "prebuilt"
NVCC_DISTRIBUTION = "nvidia-cuda-nvcc"
FIX = "run `uv run --group kernels-build python scripts/build_kernels.py` and commit the result"


def cuda_tool(name: str) -> Path:
    """A CUDA tool (nvcc, cuobjdump) from the NVIDIA wheels in this environment."""
    import nvidia

    for root in nvidia.__path__:
        tool = Path(root) / "cu13" / "bin" / name
        if tool.is_file():
            return tool
    raise ReleaseError(
        f"{name} is not installed here; run this script with `uv run --group kernels-build`"
    )


def compile_fatbin(source: Path, out: Path) -> None:
    command = [
        str(cuda_tool("nvcc")), "-fatbin", *prebuilt.NVCC_FLAGS, *prebuilt.gencode_flags(),
        *ladder.nvcc_define_flags(source.name), "-o", str(out), str(source),
    ]  # fmt: skip
    capture(command, cwd=REPO_ROOT, what=f"compile {source.name}")


def build(out_dir: Path) -> dict:
    """Compile every shipped source into `out_dir`; write and return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = {}
    for name in ladder.SOURCE_FILES:
        path = KERNELS_DIR / name
        fatbin = out_dir / prebuilt.fatbin_name(name)
        compile_fatbin(path, fatbin)
        sources[name] = {
            "fatbin": fatbin.name,
            "fatbin_sha256": hashlib.sha256(fatbin.read_bytes()).hexdigest(),
            "build_digest": prebuilt.build_digest(name, path.read_text(encoding="utf-8")),
            "kernels": prebuilt.expected_kernels(name),
            "defines": ladder.nvcc_define_flags(name),
        }
    manifest = {
        "built_by": "scripts/build_kernels.py",
        "nvcc": f"{NVCC_DISTRIBUTION}=={metadata.version(NVCC_DISTRIBUTION)}",
        "flags": [*prebuilt.NVCC_FLAGS, *prebuilt.gencode_flags()],
        "sass": [f"sm_{a}{b}" for a, b in prebuilt.SASS_ARCHS],
        "ptx": "compute_{}{}".format(*prebuilt.PTX_ARCH),
        "sources": sources,
    }
    text = json.dumps(manifest, indent=2) + "\n"
    (out_dir / prebuilt.MANIFEST).write_text(text, encoding="utf-8")
    return manifest


def listed_images(fatbin: Path) -> dict[str, set[str]]:
    """`{"sm_90": {kernels}, ..., "compute_90": {kernels}}` as cuobjdump reads the fatbin."""
    tool = str(cuda_tool("cuobjdump"))
    images: dict[str, set[str]] = {}
    elf = capture([tool, "-symbols", fatbin], cwd=REPO_ROOT, what="list the fatbin's SASS")
    for block in elf.split("Fatbin elf code:")[1:]:
        arch = re.search(r"arch = (\w+)", block).group(1)
        images[arch] = set(re.findall(r"STO_ENTRY\s+(\w+)", block))
    ptx = capture([tool, "-ptx", fatbin], cwd=REPO_ROOT, what="list the fatbin's PTX")
    for block in ptx.split("Fatbin ptx code:")[1:]:
        arch = re.search(r"arch = sm_(\w+)", block).group(1)
        images[f"compute_{arch}"] = set(re.findall(r"\.entry\s+(\w+)", block))
    return images


def missing_images(manifest: dict, folder: Path) -> list[str]:
    """Every (image, kernel) the manifest promises that cuobjdump does not find."""
    wanted = [*manifest["sass"], manifest["ptx"]]
    problems = []
    for name, entry in manifest["sources"].items():
        images = listed_images(folder / entry["fatbin"])
        for image in wanted:
            lacking = sorted(set(entry["kernels"]) - images.get(image, set()))
            if lacking:
                problems.append(f"{entry['fatbin']} {image}: no {', '.join(lacking)} ({name})")
    return problems


def check() -> list[str]:
    """Differences between the committed fatbins and a fresh build, plus missing images."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="kernels-") as tmp:
        fresh = Path(tmp)
        manifest = build(fresh)
        for path in sorted(fresh.iterdir()):
            committed = PREBUILT_DIR / path.name
            if not committed.is_file():
                problems.append(f"{committed.relative_to(REPO_ROOT)} is missing")
            elif committed.read_bytes() != path.read_bytes():
                problems.append(f"{committed.relative_to(REPO_ROOT)} differs from a rebuild")
        problems += missing_images(manifest, PREBUILT_DIR)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild in a temporary folder and compare; change nothing",
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        if problems:
            raise ReleaseError(f"{len(problems)} problem(s) with the prebuilt kernels; {FIX}")
        print("prebuilt kernels: fresh, and every kernel is in every image")
        return 0
    manifest = build(PREBUILT_DIR)
    for name, entry in manifest["sources"].items():
        size = (PREBUILT_DIR / entry["fatbin"]).stat().st_size
        print(f"{entry['fatbin']}: {size / 1024:.0f} KiB from {name} ({manifest['nvcc']})")
    return 0


if __name__ == "__main__":
    run_script(main, "build_kernels")
