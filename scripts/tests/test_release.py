"""scripts/release.py: the changelog move, the refusals, and real releases in temporary clones.

A clone holds committed files only and its own .venv, so these tests never touch the checkout
they run from (which may hold other people's uncommitted work).
"""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from release import released_changelog
from release_tools.errors import ReleaseError

DAY = "2026-11-26"  # given as --date, so no expected heading depends on the clock
RELEASE_FILES = ["packages/nn/pyproject.toml", "packages/nn/CHANGELOG.md", "uv.lock"]
CHANGELOG = "# nn\n\n## Unreleased\n\n- new thing\n\n## 0.1.0 - 2026-01-02\n\n- first\n"


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode in (1, 2), result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_the_notes_move_under_the_version_and_an_empty_unreleased_stays_on_top() -> None:
    text = released_changelog(CHANGELOG, "0.2.0", dt.date(2026, 3, 4), "CHANGELOG.md")
    assert text == (
        "# nn\n\n## Unreleased\n\n## 0.2.0 - 2026-03-04\n\n- new thing\n\n"
        "## 0.1.0 - 2026-01-02\n\n- first\n"
    )
    again = released_changelog(text.replace("## Unreleased\n", "## Unreleased\n\n- more\n"),
                               "0.3.0", dt.date(2026, 5, 6), "CHANGELOG.md")  # fmt: skip
    assert again.index("## 0.3.0") < again.index("## 0.2.0") < again.index("## 0.1.0")


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        ("# nn\n\n## Unreleased\n\n## 0.1.0 - 2026-01-02\n", "0.2.0", "nothing under"),
        ("# nn\n\n## 0.1.0 - 2026-01-02\n\n- first\n", "0.2.0", "exactly one `## Unreleased`"),
        (CHANGELOG, "0.1.0", "already has a section for 0.1.0"),
    ],
)
def test_a_changelog_that_cannot_be_released_is_refused(text, version, message) -> None:
    with pytest.raises(ReleaseError, match=message):
        released_changelog(text, version, dt.date(2026, 3, 4), "CHANGELOG.md")


def test_dry_run_prints_the_plan_and_changes_nothing(clone, git, run_script) -> None:
    result = run_script("release.py", "nn", "--bump", "minor", "--dry-run", "--date", DAY,
                        "--root", str(clone), cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("nn 0.1.0 -> 0.2.0 (minor), tag nn-v0.2.0", "every bound admits 0.2.0",
                 "would run: uv run --package nn pytest packages/nn -q",
                 "would run: uv version --package nn --bump minor --no-sync",
                 f"'## 0.2.0 - {DAY}'", "--no-sources", "would run: git tag -a nn-v0.2.0",
                 "and not publish", "dry run complete: nothing was changed"):  # fmt: skip
        assert line in result.stdout
    assert git(clone, "status", "--porcelain") == "" and git(clone, "tag", "--list") == ""


def test_a_bump_that_a_dependent_excludes_names_the_bound_to_change(clone, run_script) -> None:
    result = run_script("release.py", "autograd", "--bump", "minor", "--dry-run",
                        "--root", str(clone), cwd=clone)  # fmt: skip
    fix = "does not admit autograd 0.2.0: change it to 'autograd>=0.2,<0.3' in packages/nn/"
    assert_one_line_error(result, "nn requires", fix)


def test_a_dirty_tree_is_refused_with_one_line(clone, run_script) -> None:
    (clone / "packages/nn/README.md").write_text("edited\n")
    result = run_script("release.py", "nn", "--bump", "patch", "--root", str(clone), cwd=clone)
    assert_one_line_error(result, "uncommitted changes", "packages/nn/README.md")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nn", "--publish", "--index-url", "https://upload.pypi.org/legacy/"],
         "refusing to publish to upload.pypi.org"),
        (["nn", "--publish"], "--publish and --index-url URL (the team index's) go together"),
        (["nn", "--date", "26.11.2026"], "'26.11.2026' is not a date: write YYYY-MM-DD"),
        (["numpy"], "no workspace package named 'numpy'; the packages are: autograd"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(clone, run_script, args, message) -> None:
    result = run_script("release.py", *args, "--bump", "patch", "--root", str(clone), cwd=clone)
    assert_one_line_error(result, message)


def test_a_real_release_tags_logs_builds_checks_and_publishes(
    clone, git, run_script, tmp_path, upload_index
) -> None:
    index_url, uploads = upload_index
    notes = (clone / "packages/nn/CHANGELOG.md").read_text().split("## Unreleased", 1)[1]
    head_before = git(clone, "rev-parse", "HEAD").strip()
    result = run_script("release.py", "nn", "--bump", "patch", "--root", str(clone), "--date", DAY,
                        "--publish", "--index-url", index_url, cwd=clone)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert sorted(uploads) == ["nn-0.1.1-py3-none-any.whl", "nn-0.1.1.tar.gz"]
    # the wheel, then each extra, was installed in a fresh environment and smoke-checked
    assert "nn: ok with sibling wheels: autograd" in result.stdout
    assert "nn[plot]: ok" in result.stdout
    assert (clone / "dist/nn/nn-0.1.1-py3-none-any.whl").is_file()
    # the tag marks a new commit holding exactly the release files
    assert git(clone, "tag", "--list", "nn-v*").split() == ["nn-v0.1.1"]
    assert git(clone, "rev-parse", "nn-v0.1.1^{commit}") == git(clone, "rev-parse", "HEAD")
    assert git(clone, "rev-parse", "HEAD~1").strip() == head_before
    changed = git(clone, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == sorted(RELEASE_FILES)
    assert git(clone, "status", "--porcelain") == ""
    changelog = (clone / "packages/nn/CHANGELOG.md").read_text()
    entry = f"## Unreleased\n\n## 0.1.1 - {DAY}\n\n"
    assert changelog.split(entry, 1)[1].startswith(notes.strip())


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
    result = run_script("release.py", "nn", "--bump", "patch", "--root", str(clone), cwd=clone)
    assert_one_line_error(result, "lacks 1 source file(s): nn/__init__.py")
    assert "restored pyproject.toml, CHANGELOG.md and uv.lock" in result.stdout
    assert git(clone, "status", "--porcelain") == "" and git(clone, "tag", "--list") == ""
    assert git(clone, "rev-parse", "HEAD") == head
