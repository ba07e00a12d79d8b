"""The per-package and per-extra smoke checks, run inside fresh environments of the wheels.

Every check is derived from what the package declares or ships in its source tree, so a
package that is still growing is checked for what it has today, and the counts in the report
show what was covered (`_proto: 3 modules`, `.cu: 0 files`). Each workspace package needs an
entry in `SMOKE_SPECS` and each extra it declares one in `EXTRA_SMOKE`; a package or extra
without one fails the check instead of being skipped.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_wheel_filename

from release_tools.environments import venv_python, venv_script
from release_tools.errors import ReleaseError
from release_tools.workspace import Member, Workspace

HELP_TIMEOUT_S = 180


@dataclass(frozen=True)
class SmokeSpec:
    """What a fresh install of one package must do, besides importing and `--help`.

    Always checked: the package imports from the fresh environment (not from the source
    tree), its `__version__` (if any) equals the installed metadata, every sibling came from
    its local wheel, and each `[project.scripts]` entry exits 0 on `--help`.

    `import_all_under`: subpackages or modules (relative dotted names, "" for the whole
    package) whose every module in the source tree must import from the installed wheel; it
    proves the modules were shipped and their third-party dependencies are declared. A name
    that does not exist in the source tree (yet) imports nothing.
    `data_suffixes`: every source file with one of these suffixes must be readable through
    `importlib.resources` from the installed package.
    """

    reason: str
    import_all_under: tuple[str, ...] = ("",)
    data_suffixes: tuple[str, ...] = ()


SMOKE_SPECS: dict[str, SmokeSpec] = {
    "autograd": SmokeSpec("pure Python: every module imports"),
    "nn": SmokeSpec("pure Python on autograd: every module imports"),
    "cuda-kernels": SmokeSpec(
        "ships its .cu kernels and the generated gRPC stubs; the pycuda modules need a GPU, "
        "so the top package, _proto and the gRPC client are imported",
        import_all_under=("_proto", "rpc.client"),
        data_suffixes=(".cu", ".cuh", ".proto"),
    ),
    "mnist-trainer": SmokeSpec("torch trainer: every module imports; mnist-train --help"),
}


@dataclass(frozen=True)
class ExtraSmoke:
    """What installing the wheel as `PACKAGE[EXTRA]` must make work, in a fresh environment.

    `imports`: modules that must import; `code`: Python run afterwards, in an empty temporary
    working directory. `binary_only`: distributions that cannot be built here and must come
    as wheels from `--wheelhouse` (pycuda compiles against CUDA's headers); when the
    wheelhouse has none, the extra is reported as skipped with `why_binary`.
    """

    reason: str
    imports: tuple[str, ...] = ()
    code: str = ""
    binary_only: tuple[str, ...] = ()
    why_binary: str = ""


DRAW_A_GRAPH = """
import os, shutil, sys
from pathlib import Path
from autograd import Value, draw
renderer = shutil.which("graphviz-pure", path=os.path.dirname(sys.executable))
assert renderer, "graphviz-pure is not installed beside this Python"
x = Value(2.0, label="x")
y = x * x + 1
y.backward()
svg = draw(y, Path("graph.svg"), renderer=renderer).read_text()
assert "<svg" in svg, svg[:200]
"""

PLOT_A_FIGURE = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
fig.savefig("figure.png")
"""

# Keyed by (distribution, extra). An extra a package does not declare (yet) is never run.
EXTRA_SMOKE: dict[tuple[str, str], ExtraSmoke] = {
    ("autograd", "draw"): ExtraSmoke(
        "draws a small graph to SVG with graphviz-pure", code=DRAW_A_GRAPH
    ),
    ("nn", "plot"): ExtraSmoke("matplotlib saves a figure headless", code=PLOT_A_FIGURE),
    ("cuda-kernels", "gpu"): ExtraSmoke(
        "pycuda imports (running kernels needs a GPU)",
        imports=("pycuda",),
        binary_only=("pycuda",),
        why_binary="pycuda is published only as source and its build needs CUDA's headers "
        "(cuda.h); pass --wheelhouse DIR holding a pycuda wheel to check this extra",
    ),
    ("cuda-kernels", "bench"): ExtraSmoke(
        "the benchmark module imports", imports=("cuda_kernels.bench",)
    ),
    ("cuda-kernels", "serve"): ExtraSmoke(
        "the gRPC server imports", imports=("cuda_kernels.rpc.server",)
    ),
    ("mnist-trainer", "embedded"): ExtraSmoke(
        "the in-process matmul server the trainer starts imports",
        imports=("cuda_kernels.rpc.server",),
    ),
    ("mnist-trainer", "tensorboard"): ExtraSmoke(
        "torch's TensorBoard writer imports", imports=("torch.utils.tensorboard",)
    ),
}

# Runs inside the fresh environment: imports, resources and where each distribution came from.
PROBE = r"""
import importlib, importlib.metadata as md, importlib.resources as res, json, sys, traceback
spec = json.loads(sys.argv[1])
out = {"errors": []}
top = importlib.import_module(spec["package"])
out["location"] = getattr(top, "__file__", None)
out["prefix"] = sys.prefix
declared = getattr(top, "__version__", None)
if declared is not None and declared != md.version(spec["distribution"]):
    out["errors"].append(f"__version__ is {declared}, the installed metadata says "
                         f"{md.version(spec['distribution'])}")
for name in spec["modules"]:
    try:
        importlib.import_module(name)
    except BaseException as error:
        out["errors"].append(f"import {name}: {type(error).__name__}: {error}")
root = res.files(spec["package"])
for relative in spec["files"]:
    if not root.joinpath(*relative.split("/")).is_file():
        out["errors"].append(f"{relative} is not installed in {spec['package']}")
out["present"] = []
for dist in spec["absent"]:
    try:
        out["present"].append(f"{dist} {md.version(dist)}")
    except md.PackageNotFoundError:
        pass
out["origins"] = {}
for dist in spec["distributions"]:
    try:
        d = md.distribution(dist)
        url = json.loads(d.read_text("direct_url.json") or "{}").get("url", "the index")
        out["origins"][dist] = [d.version, url]
    except md.PackageNotFoundError:
        out["origins"][dist] = [None, "not installed"]
print(json.dumps(out))
"""


@dataclass(frozen=True)
class SmokeReport:
    """What the smoke checks covered, for the summary table; failures raise instead."""

    modules: int
    data_files: int
    scripts: tuple[str, ...]


def spec_for(member: Member) -> SmokeSpec:
    try:
        return SMOKE_SPECS[member.name]
    except KeyError:
        raise ReleaseError(
            f"{member.name} has no entry in SMOKE_SPECS (scripts/release_tools/smoke.py): "
            "add one saying what a fresh install of it must do"
        ) from None


def modules_to_import(member: Member, spec: SmokeSpec, files: list[str]) -> list[str]:
    """Dotted module names of the `.py` source files under the spec's subpackages."""
    stems = ["/".join(filter(None, [member.import_name, *sub.split(".")]))
             for sub in spec.import_all_under]  # fmt: skip
    modules = []
    for path in files:
        if not path.endswith(".py") or path.endswith("__main__.py"):
            continue
        if any(path.startswith(stem + "/") or path == stem + ".py" for stem in stems):
            dotted = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            modules.append(dotted)
    return sorted(set(modules))


def run_smoke_checks(
    workspace: Workspace,
    member: Member,
    venv: Path,
    files: list[str],
    expected_wheels: dict[str, Path],
) -> SmokeReport:
    """Import, resource, provenance and console-script checks for `member` in `venv`.

    `files` are the package's source files relative to `src/`; `expected_wheels` maps each
    workspace distribution that must be installed to the wheel file it must come from. The
    distributions that only the package's extras declare must be absent: the modules import
    without them.
    """
    spec = spec_for(member)
    modules = modules_to_import(member, spec, files)
    prefix = member.import_name + "/"
    data_files = [f.removeprefix(prefix) for f in files if Path(f).suffix in spec.data_suffixes]
    request = {
        "package": member.import_name,
        "distribution": member.name,
        "modules": modules,
        "files": data_files,
        "distributions": sorted(expected_wheels),
        "absent": workspace.extra_only_requirements(member),
    }
    with tempfile.TemporaryDirectory(prefix="smoke-cwd-") as cwd:  # not the source tree
        result = _run_in(venv, [venv_python(venv), "-c", PROBE, json.dumps(request)], Path(cwd))
        probe = json.loads(result.strip().splitlines()[-1])
        problems = list(probe["errors"])
        if probe["present"]:
            problems.append(
                f"the install without extras holds {', '.join(probe['present'])}, which only "
                "an extra declares: a core dependency pulls it in"
            )
        # Unresolved paths: with `UV_LINK_MODE=symlink` the files themselves live in uv's cache.
        location, prefix = probe.get("location") or "", probe["prefix"]
        if Path(prefix).resolve() != venv.resolve() or not location.startswith(prefix):
            problems.append(f"import {member.import_name} found {location}, not the fresh install")
        for dist, wheel in expected_wheels.items():
            version, url = probe["origins"][dist]
            if version != _wheel_version(wheel) or not url.endswith("/" + wheel.name):
                problems.append(
                    f"{dist} {version} came from {url}, not from the local wheel {wheel.name}"
                )
        for script in member.console_scripts:
            _run_in(venv, [venv_script(venv, script), "--help"], Path(cwd))
    if problems:
        raise ReleaseError(f"{member.name} smoke check failed: " + "; ".join(problems))
    return SmokeReport(len(modules), len(data_files), member.console_scripts)


EXTRA_PROBE = r"""
import importlib, json, sys
spec = json.loads(sys.argv[1])
for name in spec["imports"]:
    importlib.import_module(name)
exec(compile(spec["code"], "<smoke check of the extra>", "exec"), {"__name__": "__main__"})
print("ok")
"""


def run_extra_smoke(venv: Path, spec: ExtraSmoke) -> None:
    """Import the extra's modules and run its code in `venv`; a failure raises one line."""
    request = json.dumps({"imports": list(spec.imports), "code": spec.code})
    with tempfile.TemporaryDirectory(prefix="smoke-extra-") as cwd:
        _run_in(venv, [venv_python(venv), "-c", EXTRA_PROBE, request], Path(cwd))


def _wheel_version(wheel: Path) -> str:
    return str(parse_wheel_filename(wheel.name)[1])


def _run_in(venv: Path, argv: list, cwd: Path) -> str:
    """Run a command of the fresh environment; a failure becomes one readable line."""
    shown = " ".join(str(a) if " " not in str(a) else "<probe>" for a in argv[:3])
    try:
        result = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=HELP_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise ReleaseError(f"{argv[0]} is missing from the fresh environment {venv}") from None
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"`{shown}` took more than {HELP_TIMEOUT_S} s") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()
        print("\n".join(f"    | {line}" for line in tail[-15:]), flush=True)
        raise ReleaseError(
            f"`{shown}` exited with {result.returncode} in the fresh environment: "
            f"{tail[-1] if tail else 'no output'}"
        )
    return result.stdout
