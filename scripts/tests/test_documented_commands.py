"""Every command the docs show is registered, and the cheap ones leave `git status` clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import documented_commands as dc  # noqa: E402

DOCS = dc.documented_commands()
RUNNABLE_DOCS = sorted({d.path for d in DOCS if dc.command_to_run(d) is not None})
COMMAND_TIMEOUT_S = 300


def test_every_documented_command_is_registered() -> None:
    missing = [str(d) for d in DOCS if d.command not in dc.REGISTRY]
    assert missing == [], "add these to REGISTRY in scripts/documented_commands.py:\n" + "\n".join(
        missing
    )


def test_every_registered_command_is_still_documented() -> None:
    stale = sorted(set(dc.REGISTRY) - {d.command for d in DOCS})
    assert stale == [], f"no doc shows these any more; remove them from REGISTRY: {stale}"


def test_every_skipped_command_says_why() -> None:
    assert [c for c, e in dc.REGISTRY.items() if e.run is None and not e.reason.strip()] == []


MARKDOWN = """\
Intro `pip install x` in prose is not a command.

```bash
uv run pytest                      # the whole suite
uv run python a.py --name '#1' \\
    --out runs/x   # joined
```

```python
print("not shell")
```

~~~sh
echo  two   spaces
~~~
"""


def test_extracts_commands_from_shell_blocks_only() -> None:
    found = dc.commands_in_markdown(MARKDOWN, "README.md")
    assert [(d.line, d.command) for d in found] == [
        (4, "uv run pytest"),
        (5, "uv run python a.py --name '#1' --out runs/x"),
        (14, "echo two spaces"),
    ]


def test_searches_readmes_and_benchmarks_at_any_depth(repo_root) -> None:
    files = dc.doc_files(repo_root)
    assert "README.md" in files
    assert all(Path(f).name in {"README.md", "BENCHMARKS.md"} or f.startswith("docs/")
               for f in files)  # fmt: skip


def test_documented_commands_leave_git_status_clean(tmp_path, git_env) -> None:
    """The runnable commands of every doc, in order, in one fresh clone (a user's checkout)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(dc.REPO_ROOT), str(clone)], check=True)
    ran = []
    for documented in dc.documented_commands(clone):
        command = dc.command_to_run(documented)
        if command is None:
            continue
        proc = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=git_env, text=True, capture_output=True,
            timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-10:]
        assert proc.returncode == 0, f"{documented}: exit {proc.returncode}\n" + "\n".join(tail)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, env=os.environ,
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert status == "", f"{documented}: left the tree changed:\n{status}"
        ran.append(documented.path)
    assert set(ran) == set(RUNNABLE_DOCS)  # the clone's docs are this checkout's
