"""Fixtures of the tools' tests: the scripts folder on sys.path, clones, local indexes."""

from __future__ import annotations

import contextlib
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

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Test",
    "GIT_AUTHOR_EMAIL": "release-test@example.invalid",
    "GIT_COMMITTER_NAME": "Release Test",
    "GIT_COMMITTER_EMAIL": "release-test@example.invalid",
}


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment for commands that commit in temporary repositories and run uv there."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)  # the clone gets its own .venv
    return dict(os.environ)


@pytest.fixture
def clone(tmp_path: Path, git_env: dict[str, str]) -> Path:
    """A temporary `git clone` of this repository: committed files only, clean tree."""
    target = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(target)],
        check=True,
        env=git_env,
    )
    return target


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout these tests belong to; read it, never write to it."""
    return REPO_ROOT


def _git(repo: Path, *args: str) -> str:
    assert repo.resolve() != REPO_ROOT.resolve(), "tests must not write to the real checkout"
    result = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=os.environ
    )
    return result.stdout


@pytest.fixture
def git(git_env: dict[str, str]) -> Callable[..., str]:
    """`git(repo, *args)`: run git in a temporary repository (never in the checkout)."""
    return _git


def _run_script(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
    )


@pytest.fixture
def run_script(git_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_script("release.py", *args, cwd=...)`: this checkout's script, this interpreter."""
    return _run_script


def write_wheel(
    folder: Path,
    name: str,
    version: str,
    files: dict[str, str],
    *,
    license_text: str | None = None,
) -> Path:
    """A small, valid pure-Python wheel written by hand: no build backend, no network."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}"]
    contents = dict(files)
    if license_text is not None:
        metadata += ["License-Expression: MIT", "License-File: LICENSE"]
        contents[f"{info}/licenses/LICENSE"] = license_text
    contents[f"{info}/METADATA"] = "\n".join(metadata) + "\n"
    contents[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
    contents[f"{info}/WHEEL"] += "Tag: py3-none-any\n"
    record = [f"{path},," for path in [*contents, f"{info}/RECORD"]]
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def make_wheel() -> Callable[..., Path]:
    """`make_wheel(folder, name, version, files, license_text=None)`."""
    return write_wheel


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on 127.0.0.1 (a free port) for the block; yield its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def team_index() -> Iterator[Callable[[list[Path]], tuple[str, list[str]]]]:
    """`team_index(wheels)`: (simple-index URL, paths requested so far) of a PEP 503 index.

    It serves only the given wheel files, as the team's index would serve our packages.
    """
    with contextlib.ExitStack() as stack:

        def start(wheels: list[Path]) -> tuple[str, list[str]]:
            by_project: dict[str, list[Path]] = {}
            for wheel in wheels:
                project = wheel.name.split("-")[0].replace("_", "-").lower()
                by_project.setdefault(project, []).append(wheel)
            files = {w.name: w for w in wheels}
            requests: list[str] = []

            class Handler(_QuietHandler):
                def do_HEAD(self) -> None:  # uv asks for a wheel's size before a range read
                    self.do_GET(send_body=False)

                def do_GET(self, send_body: bool = True) -> None:
                    if send_body:
                        requests.append(self.path)
                    parts = [p for p in self.path.split("/") if p]
                    body, kind = None, "text/html"
                    if len(parts) == 2 and parts[0] == "simple" and parts[1] in by_project:
                        links = "".join(f'<a href="/files/{w.name}">{w.name}</a>\n'
                                        for w in by_project[parts[1]])  # fmt: skip
                        body = f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode()
                    elif len(parts) == 2 and parts[0] == "files" and parts[1] in files:
                        body, kind = files[parts[1]].read_bytes(), "application/octet-stream"
                    self.send_response(200 if body is not None else 404)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body or b"")))
                    self.end_headers()
                    if send_body:
                        self.wfile.write(body or b"")

            return stack.enter_context(_serve(Handler)) + "/simple/", requests

        yield start


class _UploadRecorder(_QuietHandler):
    """Accepts legacy-API uploads (what `uv publish` sends) and records the file names."""

    uploads: list[str]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = re.search(rb'filename="([^"]+)"', body)
        self.uploads.append(match.group(1).decode() if match else "<no file>")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")


@pytest.fixture
def upload_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """(upload URL, names uploaded so far) of a throw-away index on 127.0.0.1."""
    uploads: list[str] = []
    monkeypatch.setenv("UV_PUBLISH_USERNAME", "release-test")
    monkeypatch.setenv("UV_PUBLISH_PASSWORD", "not-a-secret")
    with _serve(type("Recorder", (_UploadRecorder,), {"uploads": uploads})) as url:
        yield f"{url}/legacy/", uploads
