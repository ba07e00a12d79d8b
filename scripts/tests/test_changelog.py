"""The changelog rewrite, on a temporary copy of a real package's CHANGELOG.md."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from release_tools.changelog import release_changelog, unreleased_notes
from release_tools.errors import ReleaseError

DAY = dt.date(2026, 11, 26)

HISTORY = """\
# Changelog of `nn`

## Unreleased

- Added Adam.
- Fixed the MLP repr.

## 0.1.0 - 2026-10-01

- First version.
"""


@pytest.fixture
def changelog_copy(tmp_path: Path, repo_root: Path) -> Path:
    copy = tmp_path / "CHANGELOG.md"
    shutil.copyfile(repo_root / "packages" / "nn" / "CHANGELOG.md", copy)
    return copy


def test_moves_the_notes_of_a_real_changelog_copy(changelog_copy: Path) -> None:
    original = changelog_copy.read_text()
    notes = unreleased_notes(original, where="CHANGELOG.md")
    released = release_changelog(original, "0.1.1", DAY, where="CHANGELOG.md")
    changelog_copy.write_text(released)

    head, _, tail = released.partition("## Unreleased\n\n## 0.1.1 - 2026-11-26\n\n")
    assert head == original[: original.index("## Unreleased")]
    assert tail.startswith(notes + "\n")
    with pytest.raises(ReleaseError, match=re.escape("nothing under `## Unreleased`")):
        unreleased_notes(released, where="CHANGELOG.md")


def test_keeps_older_releases_and_leaves_an_empty_unreleased_on_top() -> None:
    released = release_changelog(HISTORY, "0.2.0", DAY, where="CHANGELOG.md")
    assert released == (
        "# Changelog of `nn`\n\n"
        "## Unreleased\n\n"
        "## 0.2.0 - 2026-11-26\n\n"
        "- Added Adam.\n- Fixed the MLP repr.\n\n"
        "## 0.1.0 - 2026-10-01\n\n"
        "- First version.\n"
    )


def test_a_second_release_goes_above_the_first() -> None:
    once = release_changelog(HISTORY, "0.2.0", DAY, where="CHANGELOG.md")
    again = once.replace("## Unreleased\n", "## Unreleased\n\n- Faster backward.\n", 1)
    twice = release_changelog(again, "0.2.1", dt.date(2026, 12, 1), where="CHANGELOG.md")
    assert twice.index("## 0.2.1 - 2026-12-01") < twice.index("## 0.2.0") < twice.index("## 0.1.0")
    assert "- Faster backward.\n\n## 0.2.0" in twice


def test_refuses_an_empty_unreleased_section() -> None:
    empty = HISTORY.replace("- Added Adam.\n- Fixed the MLP repr.\n", "")
    with pytest.raises(
        ReleaseError, match=re.escape("CHANGELOG.md has nothing under `## Unreleased`")
    ):
        release_changelog(empty, "0.2.0", DAY, where="CHANGELOG.md")


def test_refuses_a_changelog_without_unreleased_heading() -> None:
    with pytest.raises(ReleaseError, match=re.escape("has no `## Unreleased` heading")):
        release_changelog("# Changelog\n\n## 0.1.0\n", "0.2.0", DAY, where="CHANGELOG.md")


def test_refuses_a_version_that_already_has_a_section() -> None:
    with pytest.raises(ReleaseError, match=re.escape("already has a section for 0.1.0")):
        release_changelog(HISTORY, "0.1.0", DAY, where="CHANGELOG.md")


def test_notes_are_the_text_up_to_the_next_section_only() -> None:
    assert unreleased_notes(HISTORY, where="x") == "- Added Adam.\n- Fixed the MLP repr."
