"""Build every workspace package as users get it and prove each wheel, and each extra, works alone.

Inside the workspace uv takes siblings from source, which hides broken packaging. So each
package is built with `uv build --no-sources` (sdist, then the wheel from the sdist), its wheel
must hold every file git tracks under `src/<package>/`, wheel and sdist must carry the root
LICENSE, and every bound between siblings must admit the sibling's version. Then the wheel is
installed into a fresh virtual environment with only the sibling wheels it needs (given as
files: the names autograd, nn and cuda-kernels belong to other projects on PyPI, and a file
always wins over an index) and third-party packages at `uv.lock`'s versions, and its `SMOKE`
code runs there; then each extra the same way, each in an environment of its own.

    uv run python scripts/check_packages.py [PACKAGE ...] [--wheelhouse DIR]

`scripts/release.py` runs the same checks on the artifacts it is about to tag.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from release_tools.cli import OneLineArgumentParser, run_script
from release_tools.commands import capture, run
from release_tools.errors import ReleaseError

REPO_ROOT = Path(__file__).resolve().parent.parent

# What a fresh install of each package, or `package[extra]`, must be able to run. A package or
# extra without an entry fails the check: say here what installing it must make work.
SMOKE = {
    "autograd": "import_all('autograd')",
    "autograd[draw]": """
from autograd import Value, draw
renderer = shutil.which("graphviz-pure", path=os.path.dirname(sys.executable))
assert "<svg" in draw(Value(2.0) * 3, Path("g.svg"), renderer=renderer).read_text()
""",
    "nn": "import_all('nn')",
    "nn[plot]": "import matplotlib.pyplot as plt; plt.plot([0, 1]); plt.savefig('f.png')",
    # the pycuda modules need a GPU: the top package, the stubs and the client import without
    "cuda-kernels": "import cuda_kernels.rpc.client; import_all('cuda_kernels._proto')",
    "cuda-kernels[gpu]": "import pycuda",
    "cuda-kernels[bench]": "import cuda_kernels.bench",
    "cuda-kernels[serve]": "import cuda_kernels.rpc.server",
    # without its extra, `tune` is refused (exit 2, one line) instead of imported
    "mnist-trainer": "import_all('mnist_trainer', but=('mnist_trainer.tune',))\n"
    "from mnist_trainer.cli import main; assert main(['tune', '--out', 't']) == 2",
    "mnist-trainer[embedded]": "import cuda_kernels.rpc.server",
    "mnist-trainer[tensorboard]": "import torch.utils.tensorboard",
    "mnist-trainer[tune]": "import mnist_trainer.tune",
}
# Extras whose dependency is published only as source that this machine cannot build.
BINARY_ONLY = {"cuda-kernels[gpu]": "pycuda"}
PRELUDE = """
import importlib, os, pkgutil, shutil, sys
from pathlib import Path
def import_all(name, but=()):
    for module in pkgutil.walk_packages(importlib.import_module(name).__path__, name + "."):
        if not module.name.endswith(".__main__") and module.name not in but:  # no program run
            importlib.import_module(module.name)
"""


@dataclass(frozen=True)
class Package:
    """A workspace member as its pyproject.toml declares it."""

    name: str
    version: Version
    folder: Path
    import_name: str
    requires: dict[str | None, list[Requirement]]  # by extra; None holds `dependencies`
    workspace_sources: frozenset[str]
    scripts: tuple[str, ...]

    @property
    def extras(self) -> list[str]:
        return sorted(extra for extra in self.requires if extra is not None)


def load_package(folder: Path) -> Package:
    with (folder / "pyproject.toml").open("rb") as f:
        data = tomllib.load(f)
    project, tool = data["project"], data.get("tool", {})
    requires = {None: [Requirement(r) for r in project.get("dependencies", [])]}
    for extra, texts in project.get("optional-dependencies", {}).items():
        requires[extra] = [Requirement(r) for r in texts]
    wheel = tool.get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    sources = tool.get("uv", {}).get("sources", {})
    return Package(
        name=canonicalize_name(project["name"]),
        version=Version(project["version"]),
        folder=folder,
        import_name=Path(wheel.get("packages", [project["name"].replace("-", "_")])[0]).name,
        requires=requires,
        workspace_sources=frozenset(
            canonicalize_name(n) for n, s in sources.items() if s.get("workspace")
        ),
        scripts=tuple(sorted(project.get("scripts", {}))),
    )


def load_workspace(root: Path) -> dict[str, Package]:
    """The members that the root's `[tool.uv.workspace] members` globs match, by name."""
    with (root / "pyproject.toml").open("rb") as f:
        globs = tomllib.load(f)["tool"]["uv"]["workspace"]["members"]
    folders = sorted({p for g in globs for p in root.glob(g) if (p / "pyproject.toml").is_file()})
    return {p.name: p for p in map(load_package, folders)}


def member(packages: dict[str, Package], name: str) -> Package:
    """The package called `name`; the error lists the names that exist."""
    try:
        return packages[canonicalize_name(name)]
    except KeyError:
        raise ReleaseError(f"no workspace package named {name!r}; the packages are: "
                           f"{', '.join(packages)}") from None  # fmt: skip


def siblings(packages: dict[str, Package], package: Package, extra: str | None) -> list[Package]:
    """The sibling packages that installing `package[extra]` pulls in, transitively."""
    found: dict[str, Package] = {}
    todo = package.requires[None] + package.requires.get(extra, [])
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in packages and name not in found and name != package.name:
            found[name] = packages[name]
            todo += packages[name].requires[None]
            todo += [r for e in req.extras for r in packages[name].requires.get(e, [])]
    return sorted(found.values(), key=lambda p: p.name)


def bound_problems(
    packages: dict[str, Package], versions: dict[str, Version], only: str | None = None
) -> list[str]:
    """Why a sibling requirement is unbounded, excludes the sibling's version, or has no source.

    `versions` overrides declared versions, e.g. with the one a release is about to set; `only`
    keeps the problems of requirements of or on that package. The upper bound keeps out most
    versions of the foreign packages that share our names: the same minor before 1.0.
    """
    problems = []
    for dependent in packages.values():
        for extra, req in ((e, r) for e, reqs in dependent.requires.items() for r in reqs):
            name = canonicalize_name(req.name)
            if name not in packages or only not in (None, name, dependent.name):
                continue
            version = versions.get(name, packages[name].version)
            major, minor = version.release[:2]
            bound = f">={major}.{minor},<" + (f"0.{minor + 1}" if major == 0 else f"{major + 1}")
            table = f"optional-dependencies.{extra}" if extra else "dependencies"
            where = f"packages/{dependent.folder.name}/pyproject.toml [project] {table}"
            fix = f"'{req.name}{bound}' in {where}"
            unbounded = not any(s.operator in {"<", "<=", "==", "~=", "==="} for s in req.specifier)
            if unbounded or not req.specifier.contains(version, prereleases=True):
                why = ("without an upper bound, so a foreign package of that name could satisfy it"
                       if unbounded else f"which does not admit {name} {version}")  # fmt: skip
                problems.append(f"{dependent.name} requires '{req}', {why}: change it to {fix}")
            elif name not in dependent.workspace_sources:
                problems.append(f"{dependent.name} requires {name} but has no `{name} = "
                                "{ workspace = true }` under [tool.uv.sources]")  # fmt: skip
    return problems


def build(root: Path, package: Package, out: Path, wheel_only: bool = False) -> list[Path]:
    """[wheel] or [wheel, sdist] of `package`, built into `out` as users get it."""
    stem = f"{package.name.replace('-', '_')}-{package.version}"
    for stale in out.glob(f"{stem}[-.]*"):  # left by an earlier, failed attempt
        stale.unlink()
    argv = ["uv", "build", "--package", package.name, "--no-sources", "--out-dir", out]
    run([*argv, *(["--wheel"] if wheel_only else [])], cwd=root, what=f"build {package.name}",
        quiet=True)  # fmt: skip
    return sorted(out.glob(f"{stem}-*.whl")) + sorted(out.glob(f"{stem}.tar.gz"))


def check_artifacts(root: Path, package: Package, wheel: Path, sdist: Path) -> None:
    """The wheel ships every file git has under src/<package>/; both carry the root LICENSE."""
    src = package.folder / "src"
    argv = ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"]
    listing = capture([*argv, src / package.import_name], cwd=root, what="list the sources")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        licenses = [archive.read(n) for n in names if ".dist-info/licenses/" in n]
    files = [(root / f).relative_to(src).as_posix() for f in listing.split("\0") if f]
    missing = [path for path in files if path not in names]
    if missing:
        raise ReleaseError(
            f"the wheel {wheel.name} lacks {len(missing)} source file(s): "
            f"{', '.join(missing[:5])}; include them in [tool.hatch.build.targets.wheel] "
            f"of {package.name}'s pyproject.toml")  # fmt: skip
    with tarfile.open(sdist) as archive:
        top = sdist.name.removesuffix(".tar.gz")
        found = f"{top}/LICENSE" in archive.getnames()
        sdist_license = archive.extractfile(f"{top}/LICENSE").read() if found else None
    license_text = (root / "LICENSE").read_bytes()
    if license_text not in licenses or sdist_license != license_text:
        folder = package.folder.relative_to(root).as_posix()
        raise ReleaseError(
            f"{package.name}: the wheel or sdist lacks the root LICENSE text; copy the root "
            f'LICENSE to {folder}/LICENSE and set license-files = ["LICENSE"] in its '
            "pyproject.toml"
        )


def lock_constraints(root: Path, path: Path) -> Path:
    """uv.lock's third-party pins, so fresh installs test what the workspace tests."""
    run(["uv", "export", "--frozen", "--no-hashes", "--all-packages", "--all-extras",
         "--all-groups", "--no-emit-workspace", "--no-header", "--output-file", path],
        cwd=root, what="export uv.lock's pins", quiet=True)  # fmt: skip
    return path


@dataclass(frozen=True)
class Install:
    """Where fresh environments go and what they install from."""

    root: Path
    packages: dict[str, Package]
    wheels: dict[str, Path]  # every built wheel, by package name
    work: Path
    constraints: Path
    wheelhouse: Path | None = None


def smoke(inst: Install, package: Package, extra: str | None = None) -> str:
    """Install `package[extra]` from its wheel into a fresh venv and run its SMOKE code there.

    Returns what passed, or "skipped: <why>"; a failure raises one line.
    """
    key = f"{package.name}[{extra}]" if extra else package.name
    if key not in SMOKE:
        raise ReleaseError(f"{key} has no entry in SMOKE (scripts/check_packages.py): add one "
                           "saying what installing it must make work")  # fmt: skip
    argv: list = ["uv", "pip", "install", "--quiet"]
    constraints = inst.constraints
    if binary := BINARY_ONLY.get(key):
        if inst.wheelhouse is None or not list(inst.wheelhouse.glob(f"{binary}-*.whl")):
            return (
                f"skipped: {binary} is published only as source and needs CUDA's headers "
                "to build; pass --wheelhouse DIR holding its wheel to check this extra"
            )
        pins = [ln for ln in constraints.read_text().splitlines() if not ln.startswith(binary)]
        constraints = inst.work / f"{key}-constraints.txt"
        constraints.write_text("\n".join(pins) + "\n")  # the wheelhouse decides its version
        argv += ["--find-links", inst.wheelhouse, "--only-binary", binary]
    needed = siblings(inst.packages, package, extra)
    venv = inst.work / "venvs" / key.replace("[", "-").rstrip("]")
    run(["uv", "venv", "--quiet", "--no-project", "--python", sys.executable, venv],
        cwd=inst.root, what=f"create {venv}", quiet=True)  # fmt: skip
    target = f"{key} @ {inst.wheels[package.name].resolve().as_uri()}"
    run([*argv, "--constraint", constraints, "--python", venv / "bin" / "python", target,
         *(inst.wheels[s.name] for s in needed)],
        cwd=inst.root, what=f"install {key} into a fresh environment", quiet=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:  # away from the source tree
        probe = inst.work / f"smoke-{venv.name}.py"
        probe.write_text(PRELUDE + SMOKE[key], encoding="utf-8")
        run([venv / "bin" / "python", probe], cwd=Path(tmp),
            what=f"run the smoke check of {key}", quiet=True)  # fmt: skip
        for script in () if extra else package.scripts:
            run([venv / "bin" / script, "--help"], cwd=Path(tmp), what=f"run {script} --help",
                quiet=True)  # fmt: skip
    return f"ok with sibling wheels: {', '.join(s.name for s in needed) or 'none'}"


def check(root: Path, names: list[str], wheelhouse: Path | None = None, dist: Path | None = None):
    """Build the named packages (default: all) and every check above; their [wheel, sdist, ...].

    With `dist` the named packages are built into `dist/<name>/` (a release's artifacts). The
    siblings their installs need are built too. A problem raises one line.
    """
    packages = load_workspace(root)
    selected = [member(packages, n) for n in names] or list(packages.values())
    work = root / "build" / "check-packages"
    shutil.rmtree(work, ignore_errors=True)
    needed = {s.name for p in selected for e in [None, *p.extras] for s in siblings(packages, p, e)}
    wheels, artifacts = {}, []
    for package in (p for p in packages.values() if p in selected or p.name in needed):
        out = (dist if dist and package in selected else work / "dist") / package.name
        if package not in selected:  # a sibling: its wheel, for the installs
            wheels[package.name] = build(root, package, out, wheel_only=True)[0]
            continue
        wheel, sdist = build(root, package, out)
        check_artifacts(root, package, wheel, sdist)
        print(f"{package.name} {package.version}: the wheel ships its sources; LICENSE in both")
        wheels[package.name], artifacts = wheel, [*artifacts, wheel, sdist]
    constraints = lock_constraints(root, work / "constraints.txt")
    inst = Install(root, packages, wheels, work, constraints, wheelhouse)
    failures = bound_problems(packages, {})
    for package, extra in ((p, e) for p in selected for e in [None, *p.extras]):
        key = f"{package.name}[{extra}]" if extra else package.name
        try:
            print(f"{key}: {smoke(inst, package, extra)}", flush=True)
        except ReleaseError as error:
            print(f"{key}: FAILED: {error}", flush=True)
            failures.append(f"{key}: {error}")
    shutil.rmtree(work, ignore_errors=True)
    if failures:
        raise ReleaseError(f"{len(failures)} problem(s), the first: {failures[0]}")
    return artifacts


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", metavar="PACKAGE", help="default: every package")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="workspace root")
    parser.add_argument("--wheelhouse", type=Path, help="prebuilt wheels, e.g. pycuda's")
    args = parser.parse_args(argv)
    if args.wheelhouse is not None and not args.wheelhouse.is_dir():
        parser.error(f"--wheelhouse {args.wheelhouse} is not a folder")
    artifacts = check(args.root.resolve(), args.packages, args.wheelhouse)
    print(f"check_packages: {len(artifacts) // 2} package(s) OK")
    return 0


if __name__ == "__main__":
    run_script(main, "check_packages")
