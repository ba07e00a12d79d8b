"""The one exception type the release tools raise for problems a person must fix."""

from __future__ import annotations


class ReleaseError(Exception):
    """A problem with the workspace or a step of a release, worded as one readable line.

    The scripts print `str(error)` on stderr and exit non-zero, without a traceback, so the
    message must say what was wrong and how to fix it.
    """
