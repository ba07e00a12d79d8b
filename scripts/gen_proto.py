"""Generate the Python gRPC stubs of `proto/` into `cuda_kernels._proto` (its one owner).

Why a script: the stubs are committed so that users need no code generator, yet they must
never drift from the `.proto` contract. This script is the only way they are made, with the
generator pinned in cuda-kernels' dev group (grpcio-tools==1.76.0, protobuf gencode 6.31.1),
and `--check` (run by the tests and CI) fails when the committed files differ from what the
pinned generator makes now.

protoc writes `from cuda_kernels.v1 import kernels_pb2`, an import path that only exists in
the proto tree; we rewrite it to a relative import so the stubs work as the subpackage
`cuda_kernels._proto`.

    uv run --package cuda-kernels python scripts/gen_proto.py          # regenerate
    uv run --package cuda-kernels python scripts/gen_proto.py --check  # exit 1 when stale
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_FILES = ("cuda_kernels/v1/kernels.proto",)
OUTPUT_DIR = ROOT / "packages" / "cuda-kernels" / "src" / "cuda_kernels" / "_proto"
PINNED_GRPCIO_TOOLS = "1.76.0"

INIT_TEXT = '''"""Generated gRPC stubs of `proto/cuda_kernels/v1/kernels.proto`. DO NOT EDIT.

Made by `scripts/gen_proto.py` with grpcio-tools=={version}; `gen_proto.py --check` fails when
these files are stale.
"""

from . import kernels_pb2, kernels_pb2_grpc

__all__ = ["kernels_pb2", "kernels_pb2_grpc"]
'''


def _require_pinned_generator() -> None:
    """Refuse to run with another grpcio-tools: its output would differ from the commit."""
    try:
        found = metadata.version("grpcio-tools")
    except metadata.PackageNotFoundError:
        found = "none"
    if found != PINNED_GRPCIO_TOOLS:
        raise SystemExit(
            f"gen_proto.py: the stubs are pinned to grpcio-tools {PINNED_GRPCIO_TOOLS} (found "
            f"{found}); run it as `uv run --package cuda-kernels python scripts/gen_proto.py`"
        )


def _relative_imports(text: str) -> str:
    """Point protoc's `cuda_kernels.v1` module names at the `cuda_kernels._proto` subpackage."""
    text = text.replace("from cuda_kernels.v1 import ", "from . import ")
    # the module name protoc records for the message classes (their __module__, pickling)
    return text.replace("'cuda_kernels.v1.kernels_pb2'", "'cuda_kernels._proto.kernels_pb2'")


def generate() -> dict[str, bytes]:
    """Run the pinned protoc; return {file name: content} of the subpackage's files."""
    _require_pinned_generator()
    from grpc_tools import protoc  # the pinned generator, imported only when needed

    include = Path(protoc.__file__).parent / "_proto"  # well-known types shipped with it
    with tempfile.TemporaryDirectory() as tmp:
        outputs = [f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}"]
        status = protoc.main(["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}", *outputs,
                              *PROTO_FILES])  # fmt: skip
        if status != 0:
            raise SystemExit(f"gen_proto.py: protoc failed with status {status}")
        files = {}
        for proto in PROTO_FILES:
            generated_dir = Path(tmp) / Path(proto).parent
            for path in sorted(generated_dir.iterdir()):
                files[path.name] = _relative_imports(path.read_text()).encode()
    files["__init__.py"] = INIT_TEXT.format(version=PINNED_GRPCIO_TOOLS).encode()
    return files


def stale_files(expected: dict[str, bytes], output_dir: Path) -> list[str]:
    """Names that are missing, different, or extra in `output_dir` compared to `expected`."""
    problems = []
    for name, content in expected.items():
        path = output_dir / name
        if not path.is_file():
            problems.append(f"{name} (missing)")
        elif path.read_bytes() != content:
            problems.append(f"{name} (differs)")
    if output_dir.is_dir():
        for path in sorted(output_dir.iterdir()):
            if path.is_file() and path.name not in expected:
                problems.append(f"{path.name} (not generated: remove it)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the stubs are stale")
    args = parser.parse_args(argv)
    expected = generate()
    if args.check:
        problems = stale_files(expected, OUTPUT_DIR)
        if problems:
            print(
                f"gen_proto.py: stale stubs in {OUTPUT_DIR.relative_to(ROOT)}: "
                f"{', '.join(problems)}; regenerate with "
                "`uv run --package cuda-kernels python scripts/gen_proto.py`",
                file=sys.stderr,
            )
            return 1
        print(f"gen_proto.py: {len(expected)} stubs up to date")
        return 0
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in expected.items():
        (OUTPUT_DIR / name).write_bytes(content)
    print(f"gen_proto.py: wrote {len(expected)} files to {OUTPUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
