"""The documentation site: its API reference covers every public name.

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
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("autograd", "nn", "cuda_kernels", "mnist_trainer")
REFERENCE = REPO / "docs" / "reference"
# `::: target` and the indented options below it
DIRECTIVE = re.compile(r"^::: *([\w.]+) *\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)
PY_FENCE = re.compile(r"^```(?:python|py)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: mkdocs.yml's filters: dunders rendered except these (keep the two lists alike).
HIDDEN_DUNDERS = re.compile(r"^__(slots|repr|str|hash|all|annotations)__$")
PRIMITIVE = (int, float, complex, str, bytes, bool, type(None))


def directives(text: str) -> list[tuple[str, list[str] | None]]:
    """(target, members) of each `::: target`; members None means "the default members"."""
    found = []
    for target, options in DIRECTIVE.findall(text):
        listed = re.findall(r"^\s+- *[\"']?([\w.]+)", options, re.MULTILINE)
        found.append((target, listed if "members:" in options else None))
    return found


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
    docs = [*REPO.glob("README.md"), *REPO.glob("packages/*/README.md"),
            *REPO.glob("packages/*/BENCHMARKS.md"), *REPO.glob("docs/**/*.md")]  # fmt: skip
    sources = [(str(path.relative_to(REPO)), code) for path in docs
               for code in PY_FENCE.findall(path.read_text(encoding="utf-8"))]  # fmt: skip
    for notebook in REPO.glob("packages/*/examples/*.ipynb"):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        sources += [(str(notebook.relative_to(REPO)), "".join(cell["source"]))
                    for cell in cells if cell["cell_type"] == "code"]  # fmt: skip
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
    pages = {p.relative_to(REPO).as_posix() for p in (REPO / "docs").rglob("*.md")}
    assert pages - nav == set(), "add these pages to the nav of mkdocs.yml"
