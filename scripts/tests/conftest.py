"""Fixtures of the tools' tests: the scripts folder on sys.path, clones, local indexes."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent
REPO_ROOT = SCRIPTS.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts import `release_tools` from beside them


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment for commands that commit in temporary repositories and run uv there."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Release Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "release-test@example.invalid")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)  # the clone gets its own .venv
    return dict(os.environ)


@pytest.fixture
def clone(tmp_path: Path, git_env: dict[str, str]) -> Path:
    """A temporary `git clone` of this repository: committed files only, clean tree."""
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(target)],
                   check=True, env=git_env)  # fmt: skip
    return target


@pytest.fixture
def git(git_env: dict[str, str]) -> Callable[..., str]:
    """`git(repo, *args)`: run git in a temporary repository (never in the checkout)."""

    def run(repo: Path, *args: str) -> str:
        assert repo.resolve() != REPO_ROOT.resolve(), "tests must not write to the checkout"
        return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                              text=True).stdout  # fmt: skip

    return run


@pytest.fixture
def run_script(git_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_script("release.py", *args, cwd=...)`: this checkout's script, this interpreter."""
    return lambda script, *args, cwd: subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args], cwd=cwd, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


@pytest.fixture
def make_wheel() -> Callable[..., Path]:
    """`make_wheel(folder, name, version, files, license_text=None)`: a pure-Python wheel
    written by hand, with no build backend and no network."""

    def write(folder: Path, name: str, version: str, files: dict[str, str],
              license_text: str | None = None) -> Path:  # fmt: skip
        info = f"{name.replace('-', '_')}-{version}.dist-info"
        metadata = f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n"
        contents = dict(files)
        if license_text is not None:
            metadata += "License-Expression: MIT\nLicense-File: LICENSE\n"
            contents[f"{info}/licenses/LICENSE"] = license_text
        contents[f"{info}/METADATA"] = metadata
        contents[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        contents[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in [*contents, f"{info}/RECORD"])
        folder.mkdir(parents=True, exist_ok=True)
        wheel = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            for path, text in contents.items():
                archive.writestr(path, text)
        return wheel

    return write


@contextlib.contextmanager
def _serve(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on 127.0.0.1 (a free port) for the block; yield its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()  # fmt: skip
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def team_index(tmp_path: Path) -> Iterator[Callable[[list[Path]], tuple[str, list[str]]]]:
    """`team_index(wheels)`: (simple-index URL, paths requested so far) of a PEP 503 index.

    A static tree (`simple/<project>/index.html`, `files/`) served from 127.0.0.1: it serves
    only the given wheel files, as the team's index would serve our packages.
    """
    with contextlib.ExitStack() as stack:

        def start(wheels: list[Path]) -> tuple[str, list[str]]:
            root = tmp_path / f"index-{len(list(tmp_path.glob('index-*')))}"
            for wheel in wheels:
                project = root / "simple" / wheel.name.split("-")[0].replace("_", "-").lower()
                project.mkdir(parents=True, exist_ok=True)
                with (project / "index.html").open("a") as page:
                    page.write(f'<a href="/files/{wheel.name}">{wheel.name}</a>\n')
                (root / "files").mkdir(exist_ok=True)
                (root / "files" / wheel.name).write_bytes(wheel.read_bytes())
            requests: list[str] = []

            class Handler(http.server.SimpleHTTPRequestHandler):
                def log_request(self, *args: object) -> None:
                    requests.append(self.path)

            handler = functools.partial(Handler, directory=str(root))
            return stack.enter_context(_serve(handler)) + "/simple/", requests

        yield start


class _UploadRecorder(http.server.BaseHTTPRequestHandler):
    """Accepts legacy-API uploads (what `uv publish` sends) and records the file names."""

    uploads: list[str]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = re.search(rb'filename="([^"]+)"', body)
        self.uploads.append(match.group(1).decode() if match else "<no file>")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upload_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """(upload URL, names uploaded so far) of a throw-away index on 127.0.0.1."""
    uploads: list[str] = []
    monkeypatch.setenv("UV_PUBLISH_USERNAME", "release-test")
    monkeypatch.setenv("UV_PUBLISH_PASSWORD", "not-a-secret")
    with _serve(type("Recorder", (_UploadRecorder,), {"uploads": uploads})) as url:
        yield f"{url}/legacy/", uploads
