"""Each extra installs on its own and passes its smoke check; hand-made wheels, no network."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_tools.environments import (
    constraints_without,
    create_venv,
    install_wheels,
    venv_python,
)
from release_tools.errors import ReleaseError
from release_tools.extras_check import check_extra, extra_spec, prebuilt_wheels
from release_tools.smoke import (
    EXTRA_SMOKE,
    SMOKE_SPECS,
    ExtraSmoke,
    SmokeSpec,
    modules_to_import,
    run_smoke_checks,
)
from release_tools.workspace import load_workspace


def declare_extras(root: Path, package: str, table: str, sources: str = "") -> None:
    """Add `[project.optional-dependencies]` lines (and uv sources) to a fake member."""
    pyproject = root / "packages" / package / "pyproject.toml"
    extras = f"[project.optional-dependencies]\n{table}\n\n[tool.uv.sources]\n{sources}"
    pyproject.write_text(pyproject.read_text().replace("[tool.uv.sources]", extras))


@pytest.fixture
def toy(make_workspace) -> Path:
    """A workspace whose `toy` declares an extra `gpu` needing `toycuda` (no such PyPI name)."""
    root = make_workspace({"toy": ("0.1.0", [], [])})
    declare_extras(root, "toy", 'gpu = ["toycuda>=1"]')
    return root


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """uv may use its cache and --find-links only: a name on the public index cannot sneak in."""
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)


GPU = ExtraSmoke(
    "toycuda imports",
    imports=("toycuda",),
    code="import toycuda; assert toycuda.KIND == 'prebuilt'",
    binary_only=("toycuda",),
    why_binary="toycuda needs headers this machine lacks",
)


def toy_wheels(tmp_path: Path, make_wheel) -> tuple[dict[str, Path], Path]:
    """({"toy": its wheel}, a wheelhouse holding a prebuilt toycuda wheel)."""
    wheel = make_wheel(tmp_path / "dist", "toy", "0.1.0", {"toy/__init__.py": "VALUE = 1\n"},
                       extras={"gpu": ["toycuda>=1"]})  # fmt: skip
    wheelhouse = tmp_path / "wheelhouse"
    make_wheel(wheelhouse, "toycuda", "1.2.0", {"toycuda/__init__.py": "KIND = 'prebuilt'\n"})
    return {"toy": wheel}, wheelhouse


def test_an_extra_without_a_smoke_check_fails_and_says_where_to_add_it(toy) -> None:
    member = load_workspace(toy).member("toy")
    assert member.extras == ("gpu",)
    with pytest.raises(ReleaseError, match=r"toy\[gpu\] has no entry in EXTRA_SMOKE"):
        extra_spec(member, "gpu")


def test_every_extra_of_the_real_packages_has_a_smoke_check(repo_root) -> None:
    missing = [f"{m.name}[{extra}]" for m in load_workspace(repo_root).members
               for extra in m.extras if (m.name, extra) not in EXTRA_SMOKE]  # fmt: skip
    assert missing == []


def test_a_binary_only_extra_is_skipped_with_the_reason_and_builds_nothing(
    toy, tmp_path, make_wheel
) -> None:
    workspace = load_workspace(toy)
    wheels, _ = toy_wheels(tmp_path, make_wheel)
    check = check_extra(workspace, workspace.member("toy"), "gpu", wheels, tmp_path / "work",
                        None, table={("toy", "gpu"): GPU})  # fmt: skip
    assert (check.status, check.detail) == ("skipped", "toycuda needs headers this machine lacks")
    assert not (tmp_path / "work").exists()


def test_a_binary_only_extra_installs_from_the_wheelhouse(toy, tmp_path, make_wheel, offline):
    workspace = load_workspace(toy)
    wheels, wheelhouse = toy_wheels(tmp_path, make_wheel)
    check = check_extra(workspace, workspace.member("toy"), "gpu", wheels, tmp_path / "work",
                        None, wheelhouse=wheelhouse, table={("toy", "gpu"): GPU})  # fmt: skip
    assert (check.status, check.name, check.detail) == ("ok", "toy[gpu]", "toycuda imports")
    assert venv_python(tmp_path / "work" / "venv").is_file()


def test_an_extra_whose_smoke_check_fails_raises_one_line(toy, tmp_path, make_wheel, offline):
    workspace = load_workspace(toy)
    wheels, wheelhouse = toy_wheels(tmp_path, make_wheel)
    broken = ExtraSmoke("needs a module the wheel lacks", imports=("toy.plotting",),
                        binary_only=("toycuda",))  # fmt: skip
    with pytest.raises(ReleaseError) as error:
        check_extra(workspace, workspace.member("toy"), "gpu", wheels, tmp_path / "work", None,
                    wheelhouse=wheelhouse, table={("toy", "gpu"): broken})  # fmt: skip
    assert "\n" not in str(error.value)
    assert "No module named 'toy.plotting'" in str(error.value)


def test_prebuilt_wheels_match_the_normalized_name(tmp_path, make_wheel) -> None:
    make_wheel(tmp_path, "Toy_Cuda", "1.0", {})
    make_wheel(tmp_path, "toy", "1.0", {})
    assert [p.name for p in prebuilt_wheels(tmp_path, "toy-cuda")] == [
        "Toy_Cuda-1.0-py3-none-any.whl"
    ]
    assert prebuilt_wheels(None, "toy-cuda") == []


def test_constraints_without_drops_only_the_named_pins(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("numpy==2.1.0\npycuda==2025.1.2 ; sys_platform == 'linux'\nPyCUDA==1\n")
    out = constraints_without(source, ("pycuda",), tmp_path / "out.txt")
    assert out.read_text() == "numpy==2.1.0\n"


def test_an_extra_pulls_in_the_siblings_it_requires(make_workspace) -> None:
    root = make_workspace({
        "kernels": ("0.1.0", [], []),
        "trainer": ("0.1.0", ["torch"], []),
    })  # fmt: skip
    declare_extras(root, "trainer",
                   'remote = ["kernels>=0.1,<0.2", "grpcio"]\nplot = ["matplotlib", "torch"]',
                   sources="kernels = { workspace = true }")  # fmt: skip
    workspace = load_workspace(root)
    trainer = workspace.member("trainer")
    assert workspace.install_closure(trainer) == []
    assert [m.name for m in workspace.install_closure(trainer, extras=("remote",))] == ["kernels"]
    assert workspace.extra_only_requirements(trainer) == ["grpcio", "matplotlib"]


def test_a_module_named_in_the_spec_is_imported_only_when_it_exists(make_workspace) -> None:
    member = load_workspace(make_workspace({"k": ("0.1.0", [], [])})).member("k")
    spec = SmokeSpec("test", import_all_under=("_proto", "rpc.client"))
    files = ["k/__init__.py", "k/_proto/__init__.py", "k/rpc/__init__.py", "k/rpc/client.py",
             "k/rpc/server.py", "k/rpc/client_util.py"]  # fmt: skip
    assert modules_to_import(member, spec, files) == ["k._proto", "k.rpc.client"]
    assert modules_to_import(member, spec, ["k/__init__.py"]) == []


def test_a_core_install_holding_what_only_an_extra_declares_fails(
    make_workspace, tmp_path, make_wheel, offline, monkeypatch
) -> None:
    root = make_workspace({"toy": ("0.1.0", ["toydep"], [])})
    declare_extras(root, "toy", 'plot = ["toyplot"]')
    workspace = load_workspace(root)
    member = workspace.member("toy")
    monkeypatch.setitem(SMOKE_SPECS, "toy", SmokeSpec("test"))
    wheel = make_wheel(tmp_path / "dist", "toy", "0.1.0", {"toy/__init__.py": ""},
                       requires=("toydep",), extras={"plot": ["toyplot"]})  # fmt: skip
    house = tmp_path / "house"
    make_wheel(house, "toydep", "1.0", {"toydep.py": ""}, requires=("toyplot",))  # drags it in
    make_wheel(house, "toyplot", "1.0", {"toyplot.py": ""})
    venv = tmp_path / "venv"
    create_venv(workspace, venv)
    install_wheels(workspace, venv, [wheel], None, find_links=house)
    with pytest.raises(ReleaseError, match=r"the install without extras holds toyplot 1\.0"):
        run_smoke_checks(workspace, member, venv, ["toy/__init__.py"], {"toy": wheel})
