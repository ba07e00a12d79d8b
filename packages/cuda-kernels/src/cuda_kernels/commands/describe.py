"""`cuda-kernels describe`: flags -> `cuda_kernels.describe` -> a summary or JSON."""

from __future__ import annotations

import argparse
import json

from cuda_kernels.backends import BACKEND_NAMES
from cuda_kernels.describe import describe, failures

NAME = "describe"
SUMMARY = "say which backend, device and kernel build run here, and check them"
DESCRIPTION = """\
Print the backend that runs here, its device, where its kernels come from (the prebuilt
fatbins shipped with the package, or a compile with nvcc) and the versions that matter,
after checking a small doublify and a small product of every kernel against numpy.
With --check-builds on a GPU, also load and check the prebuilt kernels and, when nvcc and
g++ are on PATH, kernels compiled from source, each on its own. Exits 1 when a check fails."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backend", choices=BACKEND_NAMES, default="auto", help="which backend to describe")
    add("--check-builds", action="store_true", help="on a GPU, check each way of getting "
        "the kernels (prebuilt, and compiled when nvcc and g++ are on PATH)")  # fmt: skip
    add("--json", action="store_true", help="print the facts as JSON")


def run(args: argparse.Namespace) -> int:
    facts = describe(args.backend, check_builds=args.check_builds)
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        print(f"backend: {facts['backend']} on {facts['device']}")
        print(f"kernels: {', '.join(facts['kernels'])} ({facts['kernel_build']})")
        for build, result in facts.get("builds", {}).items():
            verdict = {True: "ok", False: "FAILED", None: "not checked"}[result["ok"]]
            detail = result.get("kernel_build") or result.get("error") or ""
            print(f"{build} build: {verdict} {detail}".rstrip())
        installed = [f"{name} {v}" for name, v in facts["versions"].items() if v is not None]
        print(f"versions: {', '.join(installed)}")
    problems = failures(facts)
    for problem in problems:
        print(f"FAILED {problem}")
    return 1 if problems else 0
