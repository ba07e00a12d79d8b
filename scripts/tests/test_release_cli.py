"""scripts/release.py end to end, always in a temporary `git clone` of this repository.

The clone holds committed files only and its own .venv, so these tests never touch the
checkout they run from (which may hold other people's uncommitted work).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from release_tools.versions import bump
from release_tools.workspace import load_workspace

DAY = "2026-11-26"  # given as --date, so no expected heading depends on the clock
RELEASE_FILES = ["packages/nn/pyproject.toml", "packages/nn/CHANGELOG.md", "uv.lock"]


def fingerprint(root: Path) -> dict[str, str]:
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in RELEASE_FILES}


def next_version(root: Path, package: str, kind: str) -> str:
    return str(bump(load_workspace(root).member(package).version, kind))


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_dry_run_prints_every_step_and_changes_nothing(clone, git, run_script) -> None:
    before = fingerprint(clone)
    new = next_version(clone, "nn", "patch")
    result = run_script("release.py", "nn", "--bump", "patch", "--dry-run", "--date", DAY,
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for number in range(1, 9):
        assert f"[{number}/8]" in out
    assert f"-> {new} (patch), tag nn-v{new}" in out
    assert "ok: the working tree is clean" in out
    assert "would run: uv run --package nn pytest packages/nn -q" in out
    assert "would run: uv version --package nn --bump patch --no-sync" in out
    assert f"## {new} - {DAY}" in out
    assert "--no-sources" in out
    assert f"would run: git tag -a nn-v{new}" in out
    assert "not publishing" in out
    assert "dry run complete: nothing was changed" in out
    assert fingerprint(clone) == before
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "tag", "--list") == ""
    assert not (clone / "dist").exists()


def test_refuses_a_dirty_tree_with_one_line(clone, git, run_script) -> None:
    readme = clone / "packages" / "nn" / "README.md"
    readme.write_text(readme.read_text() + "\nan uncommitted line\n")
    before = fingerprint(clone)
    result = run_script("release.py", "nn", "--bump", "patch", "--root", str(clone), cwd=clone)
    assert_one_line_error(result, "release:", "uncommitted change", "commit or stash")
    assert fingerprint(clone) == before
    assert git(clone, "tag", "--list") == ""

    dry = run_script("release.py", "nn", "--bump", "patch", "--dry-run", "--root", str(clone),
                     cwd=clone)  # fmt: skip
    assert_one_line_error(dry, "a real run would refuse", "uncommitted change")
    assert "[8/8] publish" in dry.stdout  # the whole plan is still printed


def test_a_bump_that_a_dependent_excludes_names_the_bound(clone, run_script) -> None:
    new = next_version(clone, "autograd", "major")
    result = run_script("release.py", "autograd", "--bump", "major", "--dry-run",
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert_one_line_error(result, f"does not admit autograd {new}", "packages/nn/pyproject.toml")
    assert "nn requires 'autograd" in result.stderr


def test_dry_run_shows_the_publish_command_and_uploads_nothing(
    clone, run_script, upload_index, fake_pypi
) -> None:
    index_url, uploads = upload_index
    result = run_script("release.py", "nn", "--bump", "patch", "--dry-run", "--publish",
                        "--index-url", index_url, "--pypi-url", fake_pypi({}),
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"would run: uv publish --publish-url {index_url}" in result.stdout
    assert "ok: PyPI has no nn" in result.stdout
    assert uploads == []


def test_publishing_warns_when_the_public_index_has_a_namesake(
    clone, run_script, upload_index, fake_pypi
) -> None:
    index_url, _ = upload_index
    pypi = fake_pypi({"nn": ("0.1.1", "A neural network library built on TensorFlow.")})
    result = run_script("release.py", "nn", "--bump", "patch", "--dry-run", "--publish",
                        "--index-url", index_url, "--pypi-url", pypi,
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "  warning: PyPI has another project called nn (0.1.1: A neural network library built "
        "on TensorFlow); users must install ours with --index-url <team index> or from the "
        "wheel file, never by name from PyPI\n"
    ) in result.stdout


def test_a_failed_namesake_lookup_is_a_warning_not_a_crash(
    clone, run_script, upload_index, fake_pypi
) -> None:
    index_url, _ = upload_index
    result = run_script("release.py", "nn", "--bump", "patch", "--dry-run", "--publish",
                        "--index-url", index_url, "--pypi-url", fake_pypi({}, status=503),
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: could not ask the public index whether it has a project called nn" in (
        result.stdout
    )
    assert "answered HTTP 503" in result.stdout and "Traceback" not in result.stdout


@pytest.mark.parametrize(
    "url", ["https://upload.pypi.org/legacy/", "https://test.pypi.org/legacy/"]
)
def test_publishing_to_the_public_index_is_refused_with_one_line(clone, run_script, url) -> None:
    result = run_script("release.py", "nn", "--bump", "patch", "--dry-run", "--publish",
                        "--index-url", url, "--root", str(clone), cwd=clone)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    host = url.split("/")[2]
    assert f"refusing to publish to {host}: on PyPI these names belong to other projects" in (
        result.stderr
    )


def test_publish_needs_an_index_url(clone, run_script) -> None:
    result = run_script("release.py", "nn", "--bump", "patch", "--publish", "--root", str(clone),
                        cwd=clone)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--publish needs --index-url URL" in result.stderr


def test_unknown_package_is_one_line(clone, run_script) -> None:
    result = run_script("release.py", "numpy", "--bump", "patch", "--dry-run",
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert_one_line_error(result, "no workspace package named 'numpy'", "autograd")


def test_real_release_in_a_clone_tags_logs_builds_and_publishes_installable_artifacts(
    clone, git, run_script, tmp_path, upload_index, fake_pypi
) -> None:
    index_url, uploads = upload_index
    new = next_version(clone, "nn", "patch")
    notes = (clone / "packages/nn/CHANGELOG.md").read_text().split("## Unreleased", 1)[1]
    head_before = git(clone, "rev-parse", "HEAD").strip()
    result = run_script("release.py", "nn", "--bump", "patch", "--root", str(clone), "--date", DAY,
                        "--publish", "--index-url", index_url, "--pypi-url", fake_pypi({}),
                        cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert sorted(uploads) == [f"nn-{new}-py3-none-any.whl", f"nn-{new}.tar.gz"]

    # the tag marks a new commit holding exactly the release files
    assert git(clone, "tag", "--list", "nn-v*").split() == [f"nn-v{new}"]
    assert git(clone, "rev-parse", f"nn-v{new}^{{commit}}") == git(clone, "rev-parse", "HEAD")
    assert git(clone, "rev-parse", "HEAD~1").strip() == head_before
    assert sorted(git(clone, "show", "--name-only", "--format=", "HEAD").split()) == sorted(
        RELEASE_FILES
    )
    assert git(clone, "status", "--porcelain") == ""
    assert f'version = "{new}"' in (clone / "packages/nn/pyproject.toml").read_text()

    changelog = (clone / "packages/nn/CHANGELOG.md").read_text()
    entry = f"## Unreleased\n\n## {new} - {DAY}\n\n"
    assert entry in changelog
    assert changelog.split(entry, 1)[1].startswith(notes.strip())

    # the artifacts install on their own, with autograd from a local wheel, and report `new`
    dist = clone / "dist" / "nn"
    artifacts = sorted(p.name for p in dist.iterdir() if p.suffix in {".whl", ".gz"})
    assert artifacts == [f"nn-{new}-py3-none-any.whl", f"nn-{new}.tar.gz"]
    siblings = tmp_path / "siblings"
    build = ["uv", "build", "--package", "autograd", "--no-sources", "--wheel", "--out-dir"]
    subprocess.run([*build, str(siblings)], cwd=clone, check=True, capture_output=True)
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(["uv", "pip", "install", "--quiet", "--python", str(python),
                    str(dist / f"nn-{new}-py3-none-any.whl"), *map(str, siblings.glob("*.whl"))],
                   check=True, cwd=tmp_path)  # fmt: skip
    imported = subprocess.run([str(python), "-c", "import nn; print(nn.__version__, nn.__file__)"],
                              cwd=tmp_path, check=True, capture_output=True, text=True)  # fmt: skip
    version, location = imported.stdout.split()
    assert version == new
    assert location.startswith(str(venv))


def test_a_release_whose_wheel_lacks_a_file_restores_the_tree_and_tags_nothing(
    clone, git, run_script
) -> None:
    pyproject = clone / "packages/nn/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'packages = ["src/nn"]', 'packages = ["src/nn"]\nexclude = ["src/nn/__init__.py"]'
        )
    )
    git(clone, "commit", "--quiet", "-am", "break the nn wheel on purpose")
    head = git(clone, "rev-parse", "HEAD")
    before = fingerprint(clone)

    result = run_script("release.py", "nn", "--bump", "patch", "--root", str(clone), cwd=clone)
    assert_one_line_error(result, "lacks 1 source file(s): nn/__init__.py")
    assert "restored pyproject.toml, CHANGELOG.md and uv.lock" in result.stdout
    assert fingerprint(clone) == before
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "rev-parse", "HEAD") == head
    assert git(clone, "tag", "--list") == ""


def test_a_malformed_date_is_refused_with_one_line(clone, run_script) -> None:
    result = run_script("release.py", "nn", "--bump", "patch", "--dry-run", "--date", "26.11.2026",
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "'26.11.2026' is not a date: write YYYY-MM-DD" in result.stderr
