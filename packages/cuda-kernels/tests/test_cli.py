"""The `cuda-kernels` command line as a whole: its subcommands, their --help, and what each
says when the optional extra it needs is not installed."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from cuda_kernels.cli import build_parser, main
from cuda_kernels.extras import EXTRAS
from cuda_kernels.rpc.server import ServerConfig

SUBCOMMANDS = ("bench", "serve", "bench-service")


def test_the_parser_has_every_subcommand_and_requires_one():
    parser = build_parser()
    for command in SUBCOMMANDS:
        args = parser.parse_args([command, "--out", "x"] if command == "bench" else [command])
        assert callable(args.func) and args.command == command
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([])
    assert exc.value.code == 2


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_speaks_to_users_and_shows_defaults(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    description = text.split("\n\n")[1]  # after the usage block
    assert description[0].isupper() and "->" not in description  # not a module docstring
    assert text.count("(default: ") >= 4
    assert "(default: None)" not in text


def test_serve_has_a_flag_per_server_setting_with_its_default_and_type():
    args = build_parser().parse_args(["serve"])
    for setting in dataclasses.fields(ServerConfig):
        assert getattr(args, setting.name) == setting.default, setting.name
    argv = ["serve", "--max-calls", "7", "--metrics-port", "0", "--idle-seconds", "0.5",
            "--auth-token-file", "token.txt"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert (args.max_calls, args.metrics_port, args.idle_seconds) == (7, 0, 0.5)
    assert str(args.auth_token) == "token.txt"  # read when the command runs


@pytest.mark.parametrize(
    ("extra", "argv"),
    [
        ("serve", ["serve", "--port", "0", "--backend", "numpy"]),
        ("serve", ["bench-service", "--sizes-mib", "1"]),  # its local server
        ("bench", ["bench", "--out", "somewhere", "--sizes", "32"]),
    ],
)
def test_a_missing_extra_names_the_workspace_command(extra, argv, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    for module in EXTRAS[extra][0]:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: import fails
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"cuda-kernels {argv[0]}: error: ")
    assert f"uv run --package cuda-kernels --extra {extra} cuda-kernels {' '.join(argv)}" in line
    assert f"'cuda-kernels[{extra}]'" in line and "--index-url" in line
    assert not (tmp_path / "somewhere").exists() and not (tmp_path / "runs").exists()
