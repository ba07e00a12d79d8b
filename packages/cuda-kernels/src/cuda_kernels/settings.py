"""Settings dataclasses and the command-line flags made from them.

Why: `cuda-kernels serve`, `bench` and `bench-service` each drive a settings dataclass
(`rpc.server.config.ServerConfig`, `bench.kernels.BenchSettings`,
`bench.service.ServiceBenchSettings`). Writing each default again as an argparse default
lets the two drift apart; here a field carries its flag's help (`setting`), and
`add_flags` / `from_flags` make and read one flag per field, with the field's default and
type. A setting and its default are written once, in its dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any


def setting(default: Any, help: str, **flag: Any) -> Any:
    """A dataclass field with what its flag needs beyond the default and the type: `help`,
    argparse's `choices` or `metavar`, `flag` when the flag is not `--<field-name>`, and
    for a setting given as a file, how to `read` the file (when the command runs)."""
    return dataclasses.field(default=default, metadata={"help": help, **flag})


def add_flags(parser: argparse.ArgumentParser, settings: type) -> None:
    """One flag per field of the dataclass `settings` (see the module docstring): a tuple
    field takes several values, a bool field is a switch away from its default, a field
    read from a file takes its path."""
    hints = typing.get_type_hints(settings)
    for field in dataclasses.fields(settings):
        flag = dict(field.metadata)
        read = flag.pop("read", None)
        option = flag.pop("flag", "--" + field.name.replace("_", "-"))
        kind = _not_none(hints[field.name])
        if read is not None:
            flag.update(type=Path, metavar="FILE")
        elif kind is bool:
            flag.update(action="store_false" if field.default else "store_true")
        elif typing.get_origin(kind) is tuple:
            default = None if field.default is None else list(field.default)
            flag.update(nargs="+", type=typing.get_args(kind)[0], default=default)
        else:
            flag.update(type=kind, default=field.default)
        parser.add_argument(option, dest=field.name, **flag)


def from_flags(settings: type, args: argparse.Namespace) -> Any:
    """The dataclass `settings` built from the flags `add_flags` made, its files read, and
    checked: its `check()` raises ValueError naming the first flag that cannot work."""
    values = {}
    for field in dataclasses.fields(settings):
        value, read = getattr(args, field.name), field.metadata.get("read")
        if value is not None and read is not None:
            value = read(value)
        values[field.name] = tuple(value) if isinstance(value, list) else value
    built = settings(**values)
    built.check()
    return built


def _not_none(hint: Any) -> Any:
    """`int` for `int` and for `int | None` (likewise for any type)."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return hint
    return next(arg for arg in typing.get_args(hint) if arg is not type(None))
