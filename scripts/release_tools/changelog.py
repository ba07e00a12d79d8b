"""Moving a CHANGELOG's `## Unreleased` section under a released version."""

from __future__ import annotations

import datetime as dt
import re

from release_tools.errors import ReleaseError

UNRELEASED_HEADING = re.compile(r"^## +Unreleased *$", re.MULTILINE | re.IGNORECASE)
ANY_SECTION_HEADING = re.compile(r"^## ", re.MULTILINE)


def _unreleased_span(text: str, *, where: str) -> tuple[int, int, int]:
    """(heading start, body start, body end) of the Unreleased section."""
    matches = list(UNRELEASED_HEADING.finditer(text))
    if len(matches) != 1:
        found = "no" if not matches else f"{len(matches)}"
        raise ReleaseError(
            f"{where} has {found} `## Unreleased` heading(s); keep exactly one above the releases"
        )
    heading = matches[0]
    following = ANY_SECTION_HEADING.search(text, heading.end())
    return heading.start(), heading.end(), following.start() if following else len(text)


def unreleased_notes(text: str, *, where: str) -> str:
    """The text under `## Unreleased`, stripped; an error when there is none to release."""
    _, body_start, body_end = _unreleased_span(text, where=where)
    notes = text[body_start:body_end].strip()
    if not notes:
        raise ReleaseError(
            f"{where} has nothing under `## Unreleased`: list this release's changes there first"
        )
    return notes


def release_changelog(text: str, version: str, day: dt.date, *, where: str) -> str:
    """The changelog with its Unreleased notes moved under `## <version> - <day>`.

    A fresh, empty `## Unreleased` heading stays on top for the next changes. A version
    that already has a section is refused: releasing it twice would be a mistake.
    """
    if re.search(rf"^## +{re.escape(version)}\b", text, re.MULTILINE):
        raise ReleaseError(f"{where} already has a section for {version}; pick another version")
    heading_start, _, body_end = _unreleased_span(text, where=where)
    notes = unreleased_notes(text, where=where)
    released = f"## Unreleased\n\n## {version} - {day.isoformat()}\n\n{notes}\n"
    rest = text[body_end:]
    return text[:heading_start] + released + ("\n" + rest if rest else "")
