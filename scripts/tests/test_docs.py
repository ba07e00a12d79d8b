"""The documentation site: its API reference covers every public name, and it builds offline.

What counts as public is read from the code and the docs, never from a list kept here:

- every name in the `__all__` of a package module (private modules, and the deprecated ones
  whose docstring says so, aside);
- every name the docs import (`from cuda_kernels.bench.kernels import BenchRun` in a README,
  a docs page or an example notebook), and every module they `import`.

A name is covered when a `::: target` directive of `docs/reference/*.md` renders it: the
object itself, or a module whose rendered members include it (its `__all__`, or the public
names it defines, unless the directive's `members:` option says otherwise), matched by name or,
for re-exports, by identity (`nn.SGD` is `nn.optim.SGD`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("autograd", "nn", "cuda_kernels", "mnist_trainer")
REFERENCE = REPO / "docs" / "reference"
DIRECTIVE = re.compile(r"^::: *(?P<target>[\w.]+) *$")
PY_FENCE = re.compile(r"^```(?:python|py)\s*$")
#: mkdocs.yml's filters: dunders rendered except these (keep the two lists alike).
HIDDEN_DUNDERS = re.compile(r"^__(slots|repr|str|hash|all|annotations)__$")
PRIMITIVE = (int, float, complex, str, bytes, bool, type(None))


# --- what the reference pages document ---------------------------------------------------------


def directives(text: str) -> list[tuple[str, list[str] | None]]:
    """(target, members) of each `::: target`; members None means "the default members"."""
    found, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        options = []
        for following in lines[i + 1 :]:
            if following.strip() and not following.startswith((" ", "\t")):
                break
            options.append(following.strip())
        found.append((match["target"], _members_option(options)))
    return found


def _members_option(options: list[str]) -> list[str] | None:
    for index, option in enumerate(options):
        key, _, value = option.partition(":")
        if key != "members":
            continue
        value = value.strip()
        if value in ("false", "[]"):
            return []
        if value.startswith("["):
            return [v.strip(" \"'") for v in value.strip("[]").split(",") if v.strip()]
        listed = []
        for item in options[index + 1 :]:
            if not item.startswith("- "):
                break
            listed.append(item[2:].strip(" \"'"))
        return listed or None
    return None


def module_source(module_name: str) -> Path | None:
    for package in REPO.glob("packages/*/src"):
        base = package.joinpath(*module_name.split("."))
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
    return None


@cache
def static_all(module_name: str) -> tuple[str, ...] | None:
    """The module's `__all__` read from its source (None when it has none)."""
    tree = ast.parse(module_source(module_name).read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return tuple(ast.literal_eval(node.value))
    return None


def defined_public_names(module_name: str) -> list[str]:
    """Public names a module defines itself (not imports), as mkdocstrings shows them."""
    tree = ast.parse(module_source(module_name).read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def rendered_members(module_name: str) -> list[str]:
    names = static_all(module_name)
    if names is None:
        names = defined_public_names(module_name)
    return [n for n in names if not re.match(r"^_[^_]", n) and not HIDDEN_DUNDERS.match(n)]


def resolve(dotted: str):
    """(object, is_module) for a dotted path: a module, or an attribute of one; (None, False)
    when it needs an optional dependency that is not installed (pycuda without a GPU)."""
    try:
        return importlib.import_module(dotted), True
    except ModuleNotFoundError as exc:
        if not dotted.startswith(exc.name or "?"):
            return None, False  # the module exists but imports something missing here
    parent, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(parent), name), False
    except ModuleNotFoundError as exc:
        if parent.startswith(exc.name or "?"):
            raise
        return None, False


@cache
def documented() -> tuple[frozenset[str], frozenset[int]]:
    """Qualified names, and ids of non-primitive objects, the reference pages render."""
    names, ids = set(), set()
    for page in sorted(REFERENCE.glob("*.md")):
        for target, members in directives(page.read_text(encoding="utf-8")):
            obj, is_module = resolve(target)
            names.add(target)
            if obj is not None and not isinstance(obj, PRIMITIVE):
                ids.add(id(obj))
            if not is_module:
                continue
            for member in rendered_members(target) if members is None else members:
                names.add(f"{target}.{member}")
                value = getattr(obj, member)
                if not isinstance(value, PRIMITIVE):
                    ids.add(id(value))
    return frozenset(names), frozenset(ids)


def is_documented(module_name: str, name: str) -> bool:
    names, ids = documented()
    if f"{module_name}.{name}" in names:
        return True
    value = getattr(importlib.import_module(module_name), name)
    return not isinstance(value, PRIMITIVE) and id(value) in ids


# --- what is public ------------------------------------------------------------------------------


def public_modules() -> list[str]:
    """Every module of the four packages with an `__all__`, except private or deprecated ones."""
    found = []
    for package in PACKAGES:
        root = module_source(package).parent
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            if any(part.startswith("_") for part in parts):
                continue
            name = ".".join(parts)
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            if static_all(name) is not None and not docstring.startswith("Deprecated"):
                found.append(name)
    return found


def doc_python_sources() -> list[tuple[str, str]]:
    """(where, code) of every python block of the docs and every example notebook cell."""
    sources = []
    docs = [*REPO.glob("README.md"), *REPO.glob("packages/*/README.md"),
            *REPO.glob("packages/*/BENCHMARKS.md"), *REPO.glob("docs/**/*.md")]  # fmt: skip
    for path in docs:
        block, inside = [], False
        for line in path.read_text(encoding="utf-8").splitlines():
            if not inside and PY_FENCE.match(line.strip()):
                inside, block = True, []
            elif inside and line.strip().startswith("```"):
                inside = False
                sources.append((str(path.relative_to(REPO)), "\n".join(block)))
            elif inside:
                block.append(line)
    for notebook in REPO.glob("packages/*/examples/*.ipynb"):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                sources.append((str(notebook.relative_to(REPO)), "".join(cell["source"])))
    return sources


def imports_of_ours(code: str) -> list[tuple[str, str | None]]:
    """(module, name) for `from module import name`, (module, None) for `import module`."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in PACKAGES:
                found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] in PACKAGES]
    return found


# --- the tests ------------------------------------------------------------------------------------


def test_every_name_in_a_public_all_is_in_the_api_reference() -> None:
    modules = public_modules()
    assert {"autograd", "nn", "cuda_kernels", "mnist_trainer", "nn.optim"} <= set(modules)
    missing = [f"{m}.{n}" for m in modules for n in static_all(m) if not is_documented(m, n)]
    assert missing == [], (
        "add these to a page of docs/reference/ (a `::: module` or `::: module.name` "
        f"directive): {missing}"
    )


def test_every_module_and_name_the_docs_import_is_in_the_api_reference() -> None:
    imports = {(where, module, name) for where, code in doc_python_sources()
               for module, name in imports_of_ours(code)}  # fmt: skip
    assert any(module == "cuda_kernels.bench.kernels" for _, module, _ in imports)
    names, _ = documented()
    missing = sorted(
        f"{where}: {module}" + (f".{name}" if name else "")
        for where, module, name in imports
        if (name is None and module not in names) or (name and not is_documented(module, name))
    )
    assert missing == [], f"the docs use these; document them in docs/reference/: {missing}"


def test_directives_are_read_with_their_members_option() -> None:
    page = "::: a.b\n    options:\n      members: false\n\n::: c\n::: d\n    options:\n" \
           "      members:\n        - x\n        - y\ntext\n"  # fmt: skip
    assert directives(page) == [("a.b", []), ("c", None), ("d", ["x", "y"])]


def test_every_docs_page_is_in_the_nav() -> None:
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s*-.*?(\S+\.md)\s*$", config, re.MULTILINE))
    pages = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")
             if "hooks" not in p.parts}  # fmt: skip
    assert pages - nav == set(), "add these pages to the nav of mkdocs.yml"


def _hook():
    pytest.importorskip("mkdocs", reason="the docs group is not installed: uv sync --group docs")
    spec = importlib.util.spec_from_file_location("docs_site_hook", REPO / "docs/hooks/site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_included_readme_links_are_rebased_to_the_site() -> None:
    hook = _hook()
    page = "# nn\n\n<!-- include packages/nn/README.md -->\n"
    text = hook.rebase_links(page, "guides/nn.md")
    assert "<!-- include" not in text
    assert "](autograd.md)" in text  # README: [`autograd`](../autograd), the package's guide
    assert "](../problems/problem-4.md)" in text  # README: ../../docs/problems/problem-4.md


def test_links_to_repository_files_are_published_and_broken_ones_left_for_mkdocs() -> None:
    hook = _hook()
    needed: set[str] = set()
    page = (
        "[s](../../packages/nn/examples/claims.py) [img](img/capacity.png) "
        "[gone](../../packages/nn/no_such_file.py) [web](https://example.org/x.md)"
    )
    text = hook.rebase_links(page, "problems/problem-6.md", needed)
    assert "](../repo/packages/nn/examples/claims.py.md)" in text
    assert "](img/capacity.png)" in text
    assert "](../../packages/nn/no_such_file.py)" in text  # mkdocs --strict reports it
    assert "](https://example.org/x.md)" in text
    assert needed == {"packages/nn/examples/claims.py"}


def _no_network_prefix() -> list[str]:
    """`unshare -rn` (a new network namespace: no network at all) where this system allows it."""
    if sys.platform != "linux" or not shutil.which("unshare"):
        return []
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    return ["unshare", "-rn"] if probe.returncode == 0 else []


def test_site_builds_strictly_with_no_network_and_loads_nothing_remote(tmp_path: Path) -> None:
    """Any mkdocs warning fails the build; where the system allows, it runs with no network
    at all; the built pages load no script, style or image from another host."""
    for module in ("mkdocs", "material", "mkdocstrings", "mathjax"):
        pytest.importorskip(module, reason="the docs group is not installed: uv sync --group docs")
    site = tmp_path / "site"
    command = [*_no_network_prefix(), sys.executable, "-m", "mkdocs", "build", "--strict",
               "--site-dir", str(site)]  # fmt: skip
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    remote = re.compile(
        r"<(?:script|img|iframe|source)\b[^>]*\bsrc=\"(?:https?:)?//"
        r"|<link\b[^>]*\brel=\"stylesheet\"[^>]*\bhref=\"(?:https?:)?//"
    )
    loading = [str(p.relative_to(site)) for p in pages if remote.search(p.read_text("utf-8"))]
    assert loading == [], "these pages load something from another host"
    problem5 = (site / "problems" / "problem-5.html").read_text(encoding="utf-8")
    assert 'src="../assets/mathjax/tex-svg-full.js"' in problem5
    assert (site / "assets" / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
    notebook = site / "repo" / "packages" / "cuda-kernels" / "examples" / "ex_5_cuda.ipynb.html"
    assert "BenchRun" in notebook.read_text(encoding="utf-8")
    reference = (site / "reference" / "cuda_kernels.html").read_text(encoding="utf-8")
    assert 'id="cuda_kernels.bench.kernels.BenchRun"' in reference
