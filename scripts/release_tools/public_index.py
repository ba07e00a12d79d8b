"""Our names on the public index: refuse to upload there, warn when PyPI has a namesake.

PyPI's `autograd`, `nn` and `cuda-kernels` are other projects. Uploading ours there is
impossible (the names are taken) and would be wrong anyway, so `--publish` to PyPI's or
TestPyPI's upload URL is refused before anything runs. Publishing to the team's index is fine,
but users who then install by bare name from PyPI get the stranger's package: the release says
so when PyPI has a project of the same name. Looking that up needs the network; when it fails,
the release goes on with a warning.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from release_tools.errors import ReleaseError

PYPI_JSON_URL = "https://pypi.org"  # GET {base}/pypi/{name}/json
PUBLIC_UPLOAD_HOSTS = frozenset({"upload.pypi.org", "pypi.org", "test.pypi.org"})
LOOKUP_TIMEOUT_S = 10


def refuse_public_upload(publish_url: str) -> None:
    """Raise when `publish_url` is PyPI's or TestPyPI's: the names belong to other projects."""
    host = (urllib.parse.urlsplit(publish_url).hostname or "").lower()
    if host in PUBLIC_UPLOAD_HOSTS:
        raise ReleaseError(
            f"refusing to publish to {host}: on PyPI these names belong to other projects; "
            "publish to the team's index (--index-url https://<team index>/legacy/)"
        )


@dataclass(frozen=True)
class Namesake:
    """A project on the public index with the same name as one of ours."""

    name: str
    version: str
    summary: str


def find_namesake(name: str, base_url: str = PYPI_JSON_URL) -> Namesake | None:
    """PyPI's project called `name`, or None when there is none (HTTP 404).

    Any other failure (no network, a timeout, an unexpected answer) raises a ReleaseError
    that the caller turns into a warning.
    """
    url = f"{base_url.rstrip('/')}/pypi/{urllib.parse.quote(name)}/json"
    try:
        with urllib.request.urlopen(url, timeout=LOOKUP_TIMEOUT_S) as response:
            info = json.load(response)["info"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise ReleaseError(f"{url} answered HTTP {error.code}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        reason = getattr(error, "reason", None) or error
        raise ReleaseError(f"could not read {url}: {reason}") from None
    return Namesake(str(info.get("name", name)), str(info.get("version", "?")),
                    str(info.get("summary") or "").strip())  # fmt: skip


def namesake_warning(name: str, base_url: str = PYPI_JSON_URL) -> str | None:
    """The warning to print before publishing `name`, or None when PyPI has no such project."""
    try:
        found = find_namesake(name, base_url)
    except ReleaseError as error:
        return (
            f"could not ask the public index whether it has a project called {name} ({error}); "
            "assume it does: users must install ours from the team's index or the wheel file"
        )
    if found is None:
        return None
    about = f": {found.summary.rstrip('.')}" if found.summary else ""
    return (
        f"PyPI has another project called {found.name} ({found.version}{about}); users must "
        f"install ours with --index-url <team index> or from the wheel file, never by name "
        "from PyPI"
    )
