"""Epoch time of the `fast` recipe: local CPU matmuls vs the cuda-kernels service.

Runs the same short training three ways in one process, on the same data: local torch,
through an in-process service (`--matmul-service embedded`, its best local backend), and,
if `--target` is given, through a running service. Prints a table and writes JSON; the
ratio is against the local run measured here, in this same run.

    uv run --package mnist-trainer python packages/mnist-trainer/benchmarks/remote_vs_local.py \
        --epochs 1

The JSON goes to `runs/remote_vs_local-TIMESTAMP.json` (or `--out PATH`); only
`--refresh-committed` overwrites the committed `benchmarks/results/` file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# As `mnist-train` does: idle OpenMP threads sleep, so a busy machine does not stall them.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from mnist_trainer import data, preset
from mnist_trainer.train import fit

COMMITTED = Path(__file__).resolve().parent / "results" / "remote_vs_local-cpu-2core.json"


def measure(label: str, dataset, overrides: dict, out_root: Path) -> dict:
    config = preset("fast", **overrides)
    rows: list[dict] = []
    started = time.perf_counter()
    metrics = fit(
        config,
        out_root / label,
        dataset=dataset,
        progress=False,
        plots=False,
        log=lambda line: None,
        on_epoch_end=rows.append,
    )
    return {
        "mode": label,
        "epoch_seconds": [row["seconds"] for row in rows],
        "mean_epoch_seconds": sum(row["seconds"] for row in rows) / len(rows),
        "wall_seconds": time.perf_counter() - started,
        "test_accuracy": metrics["test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-subset", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--target", help="HOST:PORT of a running service to measure too")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs") / f"remote_vs_local-{time.strftime('%Y%m%d-%H%M%S')}.json",
        help="where the JSON goes (default: runs/remote_vs_local-TIMESTAMP.json)",
    )
    parser.add_argument(
        "--refresh-committed",
        action="store_true",
        help=f"write the committed {COMMITTED.relative_to(COMMITTED.parents[2])} instead",
    )
    args = parser.parse_args()
    out: Path = COMMITTED if args.refresh_committed else args.out
    if args.refresh_committed and "--out" in sys.argv:
        parser.error("--refresh-committed writes the committed file; drop --out")
    dataset = data.load(args.data_dir, progress=False)
    common = {"epochs": args.epochs, "train_subset": args.train_subset, "threads": args.threads}
    modes = [("local", {}), ("embedded", {"matmul_service": "embedded"})]
    if args.target:
        modes.append((f"remote {args.target}", {"matmul_service": args.target}))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in modes:
            results.append(measure(label.replace(" ", "_").replace(":", "_"), dataset,
                                   {**common, **extra}, Path(tmp)))  # fmt: skip
            results[-1]["mode"] = label
    local = results[0]["mean_epoch_seconds"]
    print(f"{'mode':<28}{'s/epoch':>10}{'x local':>10}{'test acc':>10}")
    for row in results:
        row["ratio_to_local"] = row["mean_epoch_seconds"] / local
        print(
            f"{row['mode']:<28}{row['mean_epoch_seconds']:>10.1f}"
            f"{row['ratio_to_local']:>10.2f}{row['test_accuracy']:>10.4f}"
        )
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "settings": common,
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
