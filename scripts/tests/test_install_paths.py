"""The documented ways to install our wheels outside the workspace take ours, never PyPI's.

PyPI's autograd, nn and cuda-kernels are other projects. These tests serve our built wheels
from a throw-away index on 127.0.0.1, as the team's index would, and install from it the two
documented ways: `--index-url` (the only index), and a uv project that pins our names to an
`explicit = true` index. Each shows that the sibling autograd came from that index too.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from check_packages import load_workspace

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def our_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Wheels of nn and autograd, built as users get them (`--no-sources`)."""
    out = tmp_path_factory.mktemp("wheels")
    for package in ("autograd", "nn"):
        subprocess.run(["uv", "build", "--quiet", "--package", package, "--no-sources", "--wheel",
                        "--out-dir", str(out)], cwd=REPO_ROOT, check=True)  # fmt: skip
    return sorted(out.glob("*.whl"))


@pytest.fixture(scope="module")
def mirrored_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The third-party wheels nn and autograd need at run time (autograd's graphviz), as the
    team's index mirrors them from PyPI; rebuilt offline, file for file, from the installed
    distributions, so the test needs no network."""
    out = tmp_path_factory.mktemp("mirror")
    needs = [r for p in ("autograd", "nn") for r in importlib.metadata.requires(p) or []]
    names = {re.split(r"[<>=!~; \[]", r, maxsplit=1)[0] for r in needs if "extra ==" not in r}
    wheels = []
    for name in sorted(names - {"autograd", "nn"}):
        dist = importlib.metadata.distribution(name)
        wheel = out / f"{name.replace('-', '_')}-{dist.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            for file in dist.files or []:
                if dist.locate_file(file).is_file() and "__pycache__" not in str(file):
                    archive.write(dist.locate_file(file), str(file))
        wheels.append(wheel)
    return wheels


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No index settings of the caller's shell leak into the install under test."""
    for key in list(os.environ):
        if key.startswith(("UV_INDEX", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX", "PIP_")):
            monkeypatch.delenv(key)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    return dict(os.environ)


def test_install_with_index_url_takes_nn_and_its_sibling_from_the_team_index(
    our_wheels, mirrored_wheels, team_index, tmp_path, clean_env
) -> None:
    url, requests = team_index(our_wheels + mirrored_wheels)
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, env=clean_env)  # fmt: skip
    subprocess.run(["uv", "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                    "--index-url", url, "nn"], cwd=tmp_path, check=True, env=clean_env)  # fmt: skip
    probe = "import autograd, nn; print(autograd.__version__, nn.__version__, bool(nn.MLP))"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    packages = load_workspace(REPO_ROOT)
    assert out == [str(packages["autograd"].version), str(packages["nn"].version), "True"]
    served = {path.rsplit("/", 1)[-1] for path in requests if path.startswith("/files/")}
    assert {w.name for w in our_wheels} <= served  # both of ours came from the team index


CONSUMER = """\
[project]
name = "consumer"
version = "0.0.0"
requires-python = ">=3.11"
dependencies = ["nn>=0.1,<0.2"]

[tool.uv]
# uv applies [tool.uv.sources] to the project's own requirements only: a sibling pulled in
# through nn needs a constraint to be pinned to the team index too.
constraint-dependencies = ["autograd>=0.1,<0.2"]

[[tool.uv.index]]
name = "team"
url = "{url}"
explicit = true

[tool.uv.sources]
nn = {{ index = "team" }}
autograd = {{ index = "team" }}
"""


@pytest.mark.parametrize("constrained", [True, False], ids=["pinned", "sibling-unpinned"])
def test_a_uv_project_pins_our_names_to_an_explicit_team_index(
    constrained, our_wheels, mirrored_wheels, team_index, make_wheel, tmp_path, clean_env
) -> None:
    url, requests = team_index(our_wheels)
    # a public index where a stranger's autograd sits inside our bound, as PyPI's nn 0.1.1 does
    stranger = make_wheel(tmp_path / "public", "autograd", "0.1.5", {"autograd/__init__.py": ""})
    public_url, _ = team_index([stranger, *mirrored_wheels])
    project = tmp_path / "consumer"  # as the README's "Installing ... outside" section has it
    project.mkdir()
    text = CONSUMER.format(url=url)
    if not constrained:
        text = text.replace('constraint-dependencies = ["autograd>=0.1,<0.2"]\n', "")
    (project / "pyproject.toml").write_text(text)
    env = {**clean_env, "UV_DEFAULT_INDEX": public_url}
    subprocess.run(["uv", "lock", "--quiet"], cwd=project, check=True, env=env)
    lock = tomllib.loads((project / "uv.lock").read_text())
    sources = {p["name"]: p["source"] for p in lock["package"] if p["name"] != "consumer"}
    assert sources["nn"] == {"registry": url}
    if constrained:
        assert sources["autograd"] == {"registry": url}
        assert {"/simple/nn/", "/simple/autograd/"} <= set(requests)
    else:  # the trap the constraint closes: the sibling came from the public index
        assert sources["autograd"] == {"registry": public_url}
