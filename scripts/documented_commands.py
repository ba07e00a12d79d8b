"""Every shell command our docs show, and how the tests run it cheaply (or why they do not).

The docs (every tracked README.md, BENCHMARKS.md and docs/**/*.md) show commands in fenced
```bash blocks. `scripts/tests/test_documented_commands.py` extracts them all and fails when one
is missing from `REGISTRY` below (or when an entry here is no longer documented), so docs and
registry cannot drift apart. Then it runs the runnable commands, doc by doc and in order, in
one fresh `git clone` and checks after each that `git status --porcelain` is empty: a
documented command must write only where git ignores (`runs/`, `dist/`, `build/`, `.venv/`).
Only cheap commands run (each a few seconds); the rest say why not.

Adding a command to a doc means adding one line here, keyed by the command exactly as the doc
shows it (comments dropped, `\\` continuations joined, spaces collapsed):

    "uv run pytest": SKIP("the whole suite: .ci/run runs it"),
    "uv run python scripts/x.py": RUN,                        # cheap: run as documented
    "uv run python scripts/x.py --big": RUN_AS("uv run python scripts/x.py --small"),

    uv run python scripts/documented_commands.py       # list what the docs show, and its entry
"""

# ruff: noqa: E501 - the registry's keys are whole documented commands, as long as they are

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[\w+-]*)")
SHELL_INFOS = frozenset({"bash", "sh", "shell"})


@dataclass(frozen=True)
class Entry:
    """How the test treats one documented command: `run` is what it executes, or None."""

    run: str | None
    reason: str = ""


RUN = Entry(run="")  # "" means: the documented command itself


def RUN_AS(command: str, reason: str = "") -> Entry:
    """Run `command` instead: the documented one with small sizes, a short duration."""
    return Entry(run=command, reason=reason)


def SKIP(reason: str) -> Entry:
    """Not run by the tests; `reason` says why (GPU only, minutes long, a server, ...)."""
    return Entry(run=None, reason=reason)


REGISTRY: dict[str, Entry] = {
    # README.md
    "uv run --package mnist-trainer mnist-train --out runs/fast": SKIP(
        "trains for minutes; the trainer's tests run tiny trainings"
    ),
    "uv run pytest": SKIP("the whole test suite: .ci/run runs it as its last step"),
    "uv run --package autograd python packages/autograd/examples/ex_2i_backprop.py": RUN,
    "uv run --package nn --extra plot python packages/nn/examples/two_moons.py": SKIP(
        "trains an MLP for seconds to minutes; nn's tests run the example"
    ),
    "uv run --package nn python packages/autograd/benchmarks/bench.py": SKIP(
        "a benchmark: minutes on purpose"
    ),
    "uv run --package cuda-kernels cuda-kernels bench --sizes 256 512 1024 --out runs/bench": SKIP(
        "tens of seconds on the CPU even at n=64 (the doublify sweep includes 4096)"
    ),
    "uv run --package cuda-kernels cuda-kernels serve --host 127.0.0.1 --port 50051": SKIP(
        "a server that runs until stopped; the service tests start and stop it"
    ),
    "uv build --package autograd --no-sources --out-dir dist/autograd": RUN,
    "uv build --package nn --no-sources --out-dir dist/nn": RUN,
    "uv venv --clear runs/nn-env && uv pip install --python runs/nn-env dist/nn/*.whl dist/autograd/*.whl": RUN,
    'pip install --index-url https://<team index>/simple/ "nn[plot]"': SKIP(
        "needs the team's index; scripts/tests/test_install_paths.py runs it against a local one"
    ),
    "uv run python scripts/release.py nn --bump patch --dry-run": RUN,
    "uv run python scripts/release.py nn --bump patch": SKIP(
        "commits and tags; scripts/tests/test_release_cli.py runs a release in a clone"
    ),
    "uv run python scripts/release.py nn --bump patch --publish --index-url https://<team index>/legacy/": SKIP(
        "uploads; scripts/tests/test_release_cli.py publishes to a local index"
    ),
    # packages/autograd
    "uv run --package autograd pytest": SKIP("a package's tests: the whole suite runs them"),
    # packages/cuda-kernels
    "uv run --package cuda-kernels cuda-kernels bench-service --backend numpy --out packages/cuda-kernels/benchmarks/results/cpu --json-name service.json": SKIP(
        "refreshes committed results on purpose; minutes"
    ),
    'uv run --package cuda-kernels python -c "import cuda_kernels"': RUN,
    "uv run --package cuda-kernels pytest packages/cuda-kernels -q": SKIP(
        "a package's tests: the whole suite runs them"
    ),
    "uv run ruff check packages/cuda-kernels": RUN,
    "uv run --package cuda-kernels cuda-kernels serve --host 127.0.0.1 --port 50051 --backend numpy": SKIP(
        "a server that runs until stopped; the service tests start and stop it"
    ),
    "uv run --package cuda-kernels python scripts/gen_proto.py": RUN,  # rewrites equal stubs
    "uv run --package cuda-kernels python scripts/gen_proto.py --check": RUN,
    # packages/autograd (install and refresh)
    "uv run --package nn python packages/autograd/benchmarks/bench.py --update-committed": SKIP(
        "rewrites the committed results on purpose; minutes"
    ),
    'pip install "$(ls dist/autograd/autograd-*.whl)[draw]"': SKIP(
        "installs into the active environment; the uv venv line above checks the same wheels"
    ),
    'pip install --index-url https://<team index>/simple/ "autograd[draw]"': SKIP(
        "needs the team's index; scripts/tests/test_install_paths.py runs it against a local one"
    ),
    # packages/cuda-kernels (quick start and benchmarks)
    "uv run --package cuda-kernels --extra serve cuda-kernels serve --port 0 --backend numpy": SKIP(
        "a server that runs until stopped; tests/rpc/test_serve_cli.py starts and stops it"
    ),
    "uv run --package cuda-kernels --extra bench cuda-kernels bench --out runs/bench --sizes 256 512": RUN_AS(
        "uv run --package cuda-kernels --extra bench cuda-kernels bench --out runs/bench --sizes 64 --doublify-sizes 64 --repeats 2 --warmup 1"
    ),
    "uv run --package cuda-kernels cuda-kernels bench --out runs/bench": RUN_AS(
        "uv run --package cuda-kernels cuda-kernels bench --out runs/bench --sizes 64 --doublify-sizes 64 --repeats 2 --warmup 1"
    ),
    "uv run --package cuda-kernels cuda-kernels bench --sizes 256 1024 4096 --kernels blocktiled warptiled cublas --repeats 30 --out runs/bench": SKIP(
        "GPU: these kernels need one"
    ),
    "uv run --package cuda-kernels pytest packages/cuda-kernels/tests/rpc -q": SKIP(
        "a package's tests: the whole suite runs them"
    ),
    "uv run --package cuda-kernels cuda-kernels bench-service --backend numpy": RUN_AS(
        "uv run --package cuda-kernels cuda-kernels bench-service --backend numpy --sizes-mib 1 --clients 1 --calls 10 --repeats 1 --stalled-streams 4 --no-blas-comparison"
    ),
    # packages/nn (the worked answers' checks, and installs)
    "uv run --package nn python packages/nn/examples/tanh_sigmoid.py": RUN,
    "uv run --package nn python packages/nn/examples/cross_entropy.py": RUN,
    "uv run --package nn --extra plot python packages/nn/examples/adam_bias.py": RUN,
    "uv run --package nn --extra plot python packages/nn/examples/capacity.py": RUN,
    "pip install dist/autograd/autograd-*.whl dist/nn/nn-*.whl": SKIP(
        "installs into the active environment; the uv venv line above checks the same wheels"
    ),
    "pip install --index-url https://<team index>/simple/ nn": SKIP(
        "needs the team's index; scripts/tests/test_install_paths.py runs it against a local one"
    ),
    # the GPU path: prebuilt kernels, pycuda wheels, the device check
    "uv run --package cuda-kernels cuda-kernels describe": RUN,
    "uv run python scripts/build_pycuda_wheel.py .whl/gpu --python 3.11": SKIP(
        "compiles pycuda: about two minutes; scripts/tests/test_build_pycuda_wheel.py tests its parts"
    ),
    "uv pip install --no-index --find-links .whl/gpu pycuda": SKIP(
        "installs into the workspace environment, from a wheel the line above builds"
    ),
    "uv run --group kernels-build python scripts/build_kernels.py": SKIP(
        "downloads the pinned nvcc (about 100 MB); .ci/run runs its --check"
    ),
    "uv run --group kernels-build python scripts/build_kernels.py --check": SKIP(
        ".ci/run runs it as its own step"
    ),
    "uv run python scripts/gpu_carry.py": SKIP(
        "builds pycuda and copies 30 MB of data into ignored folders; minutes"
    ),
    "uv run python scripts/gpu_check.py --rehearse-host 3.12 --out runs/gpu-rehearsal": SKIP(
        "minutes; .ci/run runs it as its own step"
    ),
    # packages/mnist-trainer (everyday commands, remote mode, benchmarks)
    "uv run --package mnist-trainer mnist-train evaluate runs/fast": SKIP(
        "needs the trained run of the quick start; tests/test_commands.py evaluates a tiny run"
    ),
    "uv run --package mnist-trainer mnist-train predict runs/fast shoe.png": SKIP(
        "needs the trained run and an image; tests/test_commands.py predicts with a tiny run"
    ),
    "uv run --package mnist-trainer torchrun --standalone --nproc-per-node 2 -m mnist_trainer --out runs/ddp --epochs 2": SKIP(
        "two training processes; tests/test_train.py runs data-parallel training on a subset"
    ),
    "uv run --package mnist-trainer --extra embedded mnist-train --matmul-service embedded --epochs 1 --train-subset 5000 --out runs/embedded": SKIP(
        "tens of seconds; tests/test_remote.py trains through the service"
    ),
    "uv run --package mnist-trainer pytest -q": SKIP("a package's tests: the whole suite runs them"),
    "uv run --package mnist-trainer python packages/mnist-trainer/benchmarks/remote_vs_local.py --epochs 1 --train-subset 2000": SKIP(
        "a benchmark: minutes"
    ),
    "uv run --package mnist-trainer python packages/mnist-trainer/benchmarks/remote_vs_local.py --epochs 1 --refresh-committed": SKIP(
        "rewrites the committed results on purpose; minutes"
    ),
    "mkdir -p runs/tls": RUN,
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout runs/tls/server.key -out runs/tls/server.pem": RUN,
    '(umask 077 && echo "a-long-random-token" > runs/tls/token.txt)': RUN,
    "uv run --package cuda-kernels cuda-kernels serve --port 50051 --auth-token-file runs/tls/token.txt --tls-cert runs/tls/server.pem --tls-key runs/tls/server.key &": SKIP(
        "a server in the background on a fixed port; tests/test_remote.py runs the same with TLS and a token on a free port"
    ),
    "uv run --package mnist-trainer mnist-train --matmul-service localhost:50051 --matmul-service-token-file runs/tls/token.txt --matmul-service-tls-ca runs/tls/server.pem --epochs 1 --train-subset 5000 --out runs/tls/run": SKIP(
        "needs the server above; tests/test_remote.py trains against a TLS server with a token"
    ),
    "kill %1": SKIP("stops the background server above"),
    # packages/mnist-trainer
    "uv run --package mnist-trainer mnist-train --matmul-service 127.0.0.1:50051 --out runs/remote": SKIP(
        "needs a running matmul service; trains for minutes"
    ),
    "uv run ruff check packages/mnist-trainer": RUN,
    # packages/nn
    "uv run --package nn --extra plot python packages/nn/examples/logic_gates.py": RUN,
    "uv run --package nn --extra plot python packages/nn/examples/claims.py": SKIP(
        "seconds of training; logic_gates.py checks the same default figs/ output"
    ),
    "uv run --package nn pytest": SKIP("a package's tests: the whole suite runs them"),
    # docs/ (the documentation site)
    "uv run --group docs mkdocs serve": SKIP(
        "a server that runs until stopped; scripts/tests/test_docs.py builds the same site"
    ),
    "uv run --group docs mkdocs build --strict": SKIP(
        "a step of .ci/run of its own; scripts/tests/test_docs.py builds the site too"
    ),
    "uv run --package cuda-kernels cuda-kernels bench --backend pycuda --out runs/bench": SKIP(
        "GPU: --backend pycuda needs one"
    ),
    "uv run python scripts/notebooks.py packages/cuda-kernels/examples/ex_5_cuda.ipynb": SKIP(
        "scripts/tests/test_notebooks.py executes every example notebook"
    ),
    "uv build --package cuda-kernels --no-sources --out-dir dist/cuda-kernels": RUN,
}


@dataclass(frozen=True)
class Documented:
    """One command as a doc shows it, and where."""

    command: str
    path: str  # relative to the repository root
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.command}"


def _strip_comment(line: str) -> str:
    """`cmd  # note` -> `cmd`; a `#` inside quotes or a word (`a#b`) is kept."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def commands_in_markdown(text: str, path: str) -> list[Documented]:
    """The commands of the ```bash blocks of one Markdown text, in order."""
    found: list[Documented] = []
    fence = None
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        match = FENCE.match(raw)
        if fence is None:
            if match and match["info"] in SHELL_INFOS:
                fence = match["fence"]
            continue
        if match and match["fence"].startswith(fence[0]) and not match["info"]:
            fence = None
            continue
        line = _strip_comment(raw).strip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command = " ".join((pending + line).split())
        pending = ""
        if command:
            found.append(Documented(command, path, start))
    return found


def doc_files(root: Path = REPO_ROOT) -> list[str]:
    """Tracked README.md / BENCHMARKS.md files at any depth, and docs/**/*.md."""
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    names = [n for n in listing.split("\0") if n]
    return sorted(
        n for n in names
        if Path(n).name in {"README.md", "BENCHMARKS.md"}
        or (n.startswith("docs/") and n.endswith(".md"))
    )  # fmt: skip


def documented_commands(root: Path = REPO_ROOT) -> list[Documented]:
    """Every command of every doc, in file order then line order."""
    found = []
    for name in doc_files(root):
        found += commands_in_markdown((root / name).read_text(encoding="utf-8"), name)
    return found


def command_to_run(documented: Documented) -> str | None:
    """What the tests execute for `documented`: None when it is not run (or not registered)."""
    entry = REGISTRY.get(documented.command)
    if entry is None or entry.run is None:
        return None
    return entry.run or documented.command


def main() -> int:
    for doc in documented_commands():
        entry = REGISTRY.get(doc.command)
        if entry is None:
            status = "NOT REGISTERED"
        elif entry.run is None:
            status = f"skip: {entry.reason}"
        else:
            status = f"run: {entry.run or '(as documented)'}"
        print(f"{doc}\n    {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
