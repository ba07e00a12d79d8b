"""mkdocs hooks of this site: README guides, links into the repository, and offline math.

Why a hook and not more plugins:

- **One source per guide.** A guide page writes `<!-- include packages/nn/README.md -->` and
  gets the README (without its `# title` line) at build time, so the README stays the only
  copy. Its relative links were written for the README's folder; they are rebased here, before
  mkdocs validates them, so a broken link still fails `mkdocs build --strict`.
- **Links into the repository work in the site.** A docs page or README links to examples,
  tests and results (`../../packages/nn/examples/claims.py`). A link to a file that has a
  page of its own (a README, a BENCHMARKS.md) goes to that page; any other file of the
  repository is published under `repo/`: images as they are, text files as a page showing the
  file, notebooks rendered with their committed outputs, folders as a list of their files.
- **Math with no network.** MathJax 3 comes from a PyPI package (`django-static-mathjax`, a
  plain copy of MathJax's files, in the `docs` dependency group) and is served from the site
  itself, so neither the build nor a reader of the built site offline fetches anything.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import re
import subprocess
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

from mkdocs.structure.files import File, Files, InclusionLevel

REPO = Path(__file__).resolve().parents[2]

#: Repository files that are pages of the site: links to them (or to the package folder) go there.
PAGES = {
    "README.md": "index.md",
    "packages/autograd/README.md": "guides/autograd.md",
    "packages/autograd/BENCHMARKS.md": "guides/autograd-benchmarks.md",
    "packages/nn/README.md": "guides/nn.md",
    "packages/cuda-kernels/README.md": "guides/cuda-kernels.md",
    "packages/cuda-kernels/BENCHMARKS.md": "guides/cuda-kernels-benchmarks.md",
    "packages/mnist-trainer/README.md": "guides/mnist-trainer.md",
    "packages/mnist-trainer/BENCHMARKS.md": "guides/mnist-trainer-benchmarks.md",
    # problem 3's worked answer, once it exists: a page that includes it, in the nav
    "packages/mnist-trainer/PROBLEM3.md": "problems/problem-3.md",
}
FOLDERS = {"packages/" + name: f"guides/{name}.md"
           for name in ("autograd", "nn", "cuda-kernels", "mnist-trainer")}  # fmt: skip

MATHJAX_FILES = ("es5/tex-svg-full.js", "LICENSE")  # SVG output: glyphs inside the script
MATHJAX_URI = "assets/mathjax/"
REPO_URI = "repo/"
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".gz", ".pt", ".whl"}
LANGUAGES = {".py": "python", ".cu": "cuda", ".json": "json", ".jsonl": "json",
             ".toml": "toml", ".proto": "proto", ".sh": "bash", ".txt": "text"}  # fmt: skip

INCLUDE = re.compile(r"^<!-- include (?P<path>\S+) -->[ \t]*$", re.MULTILINE)
LINK = re.compile(r"(?P<head>!?\[[^\]\n]*\]\()(?P<target>[^)\s]+)(?P<tail>\))")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.IGNORECASE)


# --- reading the docs' markdown ---------------------------------------------------------------


def expand_includes(markdown: str) -> tuple[str, list[tuple[str, str]]]:
    """Replace each include line with the file it names, links rebased to the includer.

    Returns the text and, for link rewriting, the (text, source path) pieces it is made of.
    """
    pieces: list[tuple[str, str]] = []
    position = 0
    for match in INCLUDE.finditer(markdown):
        pieces.append((markdown[position : match.start()], ""))
        path = match["path"]
        text = (REPO / path).read_text(encoding="utf-8")
        if text.startswith("# "):  # the including page has its own title
            text = text.split("\n", 1)[1] if "\n" in text else ""
        pieces.append((text, path))
        position = match.end()
    pieces.append((markdown[position:], ""))
    return "".join(text for text, _ in pieces), pieces


def markdown_links(text: str) -> list[re.Match]:
    """Inline links and images outside code blocks and code spans."""
    found, fence = [], None
    offset = 0
    for line in text.splitlines(keepends=True):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None and opened and opened.group(1).startswith(fence):
            fence = None
        elif fence is None:
            for match in LINK.finditer(line):
                if line[: match.start()].count("`") % 2 == 0:  # not inside a code span
                    found.append((offset, match))
        offset += len(line)
    return [_Shifted(offset, match) for offset, match in found]


class _Shifted:
    """A link match with positions in the whole text."""

    def __init__(self, offset: int, match: re.Match) -> None:
        self.target = match["target"]
        self.start = offset + match.start("target")
        self.end = offset + match.end("target")


def repo_path_of(target: str, source: str) -> tuple[str, str] | None:
    """(repository path, anchor) a relative link of file `source` points at, or None."""
    if EXTERNAL.match(target):
        return None
    path, _, anchor = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), unquote(path)))
    if resolved.startswith("../") or resolved == "..":
        return None
    return resolved, anchor


# --- where a repository path lives in the site ------------------------------------------------


def site_uri(repo_path: str) -> str | None:
    """The site file for a repository path; None when the path does not exist."""
    if repo_path.startswith("docs/"):
        return repo_path.removeprefix("docs/")
    if repo_path in PAGES:
        return PAGES[repo_path]
    if repo_path.rstrip("/") in FOLDERS:
        return FOLDERS[repo_path.rstrip("/")]
    full = REPO / repo_path
    if full.is_dir():
        return f"{REPO_URI}{repo_path.rstrip('/')}/index.md"
    if not full.is_file():
        return None
    if full.suffix in BINARY_SUFFIXES:
        return REPO_URI + repo_path
    return f"{REPO_URI}{repo_path}.md"


def rebase_links(markdown: str, page_uri: str, needed: set[str] | None = None) -> str:
    """Rewrite every relative link of `markdown` (made of include pieces) for `page_uri`.

    A link that resolves to nothing is left as written, so mkdocs reports it. The repository
    paths that must be published are added to `needed`.
    """
    _, pieces = expand_includes(markdown) if INCLUDE.search(markdown) else (None, [(markdown, "")])
    out = []
    for text, source in pieces:
        source = source or "docs/" + page_uri
        out.append(_rebase_piece(text, source, page_uri, needed))
    return "".join(out)


def _rebase_piece(text: str, source: str, page_uri: str, needed: set[str] | None) -> str:
    result, last = [], 0
    for link in markdown_links(text):
        resolved = repo_path_of(link.target, source)
        uri = site_uri(resolved[0]) if resolved else None
        if uri is None:
            continue
        if needed is not None and uri.startswith(REPO_URI):
            needed.add(resolved[0].rstrip("/"))
        new = posixpath.relpath(uri, posixpath.dirname(page_uri) or ".")
        new += f"#{resolved[1]}" if resolved[1] else ""
        result += [text[last : link.start], new]
        last = link.end
    result.append(text[last:])
    return "".join(result)


# --- pages for repository files ---------------------------------------------------------------


def tracked_files() -> list[str]:
    """The repository's tracked files (a folder page lists only these)."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file()]
    return [name for name in listing.split("\0") if name]


def fenced(code: str, language: str) -> str:
    """`code` in a fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code.rstrip()}\n{fence}\n"


def source_page(repo_path: str) -> str:
    suffix = Path(repo_path).suffix
    text = (REPO / repo_path).read_text(encoding="utf-8", errors="replace")
    if repo_path.endswith(".md"):
        return f"*`{repo_path}` in the repository.*\n\n" + text
    return (f"# {Path(repo_path).name}\n\n`{repo_path}` in the repository, as of this build.\n\n"
            + fenced(text, LANGUAGES.get(suffix, "text")))  # fmt: skip


def folder_page(repo_path: str, tracked: list[str]) -> tuple[str, list[str]]:
    prefix = repo_path.rstrip("/") + "/"
    entries = sorted(name for name in tracked if name.startswith(prefix) and "/" not in
                     name[len(prefix):])  # fmt: skip
    lines = [f"# {prefix}", "", f"The files of `{prefix}` in the repository:", ""]
    for name in entries:
        uri = site_uri(name)
        rel = posixpath.relpath(uri, posixpath.dirname(f"{REPO_URI}{prefix}index.md"))
        lines.append(f"- [{Path(name).name}]({rel})")
    return "\n".join(lines) + "\n", entries


def notebook_page(repo_path: str, config, files: Files, needed: set[str]) -> str:
    """The notebook as markdown, with its committed outputs; its images become files."""
    notebook = json.loads((REPO / repo_path).read_text(encoding="utf-8"))
    page_uri = f"{REPO_URI}{repo_path}.md"
    parts = [f"*`{repo_path}` in the repository, shown with the outputs it was committed "
             "with.*\n"]  # fmt: skip
    images = 0
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(rebase_links(source, page_uri, needed) + "\n")
            continue
        if cell["cell_type"] != "code":
            continue
        parts.append(fenced(source, "python"))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("output_type") == "stream":
                parts.append(fenced("".join(output["text"]), "text"))
            elif "image/png" in data:
                images += 1
                name = f"{Path(repo_path).stem}-{images}.png"
                uri = f"{REPO_URI}{posixpath.dirname(repo_path)}/{name}"
                png = base64.b64decode(data["image/png"])
                files.append(File.generated(config, uri, content=png))
                parts.append(f"![output {images}]({name})\n")
            elif "image/svg+xml" in data:  # e.g. autograd's graphs
                images += 1
                name = f"{Path(repo_path).stem}-{images}.svg"
                uri = f"{REPO_URI}{posixpath.dirname(repo_path)}/{name}"
                files.append(File.generated(config, uri, content="".join(data["image/svg+xml"])))
                parts.append(f"![output {images}]({name})\n")
            elif "text/plain" in data:
                parts.append(fenced("".join(data["text/plain"]), "text"))
    return "\n".join(parts)


def publish_repo_files(needed: set[str], config, files: Files) -> None:
    """Add a site file for every repository path in `needed` (and what those pages need)."""
    tracked = tracked_files()
    done: set[str] = set()
    while needed - done:
        repo_path = sorted(needed - done)[0]
        done.add(repo_path)
        uri = site_uri(repo_path)
        full = REPO / repo_path
        if full.is_dir():
            content, entries = folder_page(repo_path, tracked)
            needed.update(e for e in entries if site_uri(e) and site_uri(e).startswith(REPO_URI))
        elif full.suffix in BINARY_SUFFIXES:
            files.append(File.generated(config, uri, abs_src_path=str(full)))
            continue
        elif full.suffix == ".ipynb":
            content = notebook_page(repo_path, config, files, needed)
        else:
            content = source_page(repo_path)
        # linked from the pages, not listed in the nav (the notebooks are, in mkdocs.yml)
        in_nav = full.suffix == ".ipynb"
        inclusion = InclusionLevel.INCLUDED if in_nav else InclusionLevel.NOT_IN_NAV
        files.append(File.generated(config, uri, content=content, inclusion=inclusion))


# --- the mkdocs events ------------------------------------------------------------------------


def on_files(files: Files, *, config) -> Files:
    """Serve MathJax from the site, and publish the repository files the pages link to."""
    mathjax = resources.files("mathjax") / "static" / "mathjax"
    for name in MATHJAX_FILES:
        with resources.as_file(mathjax / name) as path:
            files.append(File.generated(config, MATHJAX_URI + posixpath.basename(name),
                                        abs_src_path=os.fspath(path)))  # fmt: skip
    needed: set[str] = set()
    for file in list(files.documentation_pages()):
        if file.abs_src_path:
            rebase_links(Path(file.abs_src_path).read_text(encoding="utf-8"), file.src_uri, needed)
    publish_repo_files(needed, config, files)
    return files


def on_page_markdown(markdown: str, *, page, config, files) -> str:
    """Pages with an include line get the file; every page gets its links rebased."""
    if page.file.src_uri.startswith(REPO_URI):
        return markdown  # generated above, links already rebased
    return rebase_links(markdown, page.file.src_uri)
