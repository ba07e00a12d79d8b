"""Turning measurements into the outputs: a printed table (table.txt), results.json and PNG
plots. The plots need matplotlib, the `bench` extra; it is imported only to draw them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from cuda_kernels.bench.timing import Timing


def gflops(n: int, median_ms: float) -> float:
    """GFLOP/s of an n×n×n matmul (2·n³ floating-point operations) taking `median_ms`."""
    return 2.0 * n**3 / (median_ms * 1e-3) / 1e9


def doublify_row(n: int, doublify: Timing, copy: Timing) -> dict:
    """One doublify row: its time and bandwidth (GB/s: 10^9 bytes read plus written per
    second) beside the copy of the same bytes."""
    moved_gb = 2 * n * n * 4 / 1e9  # read x, write y
    gb_s = moved_gb / (doublify.median_ms * 1e-3)
    copy_gb_s = moved_gb / (copy.median_ms * 1e-3)
    return {
        "n": n,
        "array_mb": n * n * 4 / 1e6,
        **doublify.as_dict(),
        "gb_s": gb_s,
        "copy_median_ms": copy.median_ms,
        "copy_host_ahead": copy.host_ahead,
        "copy_gb_s": copy_gb_s,
        "pct_of_copy": 100.0 * gb_s / copy_gb_s,
    }


def add_cublas_shares(rows: list[dict]) -> None:
    """Set `pct_of_cublas` on every matmul row whose size also has a cuBLAS row."""
    cublas = {r["n"]: r["median_ms"] for r in rows if r["kernel"] == "cublas"}
    for row in rows:
        base = cublas.get(row["n"])
        row["pct_of_cublas"] = None if base is None else 100.0 * base / row["median_ms"]


def fixed_width(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence]) -> list[str]:
    """A header line and one line per row: `columns` are (title, format spec) pairs, a
    `None` cell shows as '-', and cells past the last column are appended as they are."""

    def width(spec: str) -> str:
        return re.match(r"[<>^]?\d*", spec).group()

    lines = [" ".join(format(title, width(spec)) for title, spec in columns)]
    for row in rows:
        cells = [
            format("-" if value is None else value, width(spec) if value is None else spec)
            for (_, spec), value in zip(columns, row, strict=False)
        ]
        lines.append(" ".join(cells) + "".join(row[len(columns) :]))
    return lines


def matmul_table(rows: list[dict]) -> str:
    """Fixed-width table of matmul rows, ordered by size then speed."""
    columns = [("n", ">6"), ("kernel", "<11"), ("median ms", ">10.3f"), ("GFLOP/s", ">10.1f"),
               ("% cuBLAS", ">9.1f")]  # fmt: skip
    lines = fixed_width(
        columns,
        ((r["n"], r["kernel"], r["median_ms"], r["gflops"], r["pct_of_cublas"], _gap_mark(r))
         for r in sorted(rows, key=lambda r: (r["n"], r["median_ms"]))),
    )  # fmt: skip
    return "\n".join(lines + _gap_note(rows))


def doublify_table(rows: list[dict]) -> str:
    columns = [("n", ">6"), ("MB", ">8.1f"), ("median ms", ">10.3f"), ("GB/s", ">9.1f"),
               ("copy GB/s", ">10.1f"), ("% copy", ">7.1f")]  # fmt: skip
    keys = ("n", "array_mb", "median_ms", "gb_s", "copy_gb_s", "pct_of_copy")
    lines = fixed_width(columns, ([*(r[k] for k in keys), _gap_mark(r)] for r in rows))
    return "\n".join(lines + _gap_note(rows))


def _gap_mark(row: dict) -> str:
    gaps = row.get("host_ahead") is False or row.get("copy_host_ahead") is False
    return " *" if gaps else ""


def _gap_note(rows: list[dict]) -> list[str]:
    """A footnote when some GPU series could not keep the host ahead of the GPU."""
    if any(_gap_mark(row) for row in rows):
        return ["* the host could not queue these batches ahead of the GPU: the times may "
                "include launch gaps (an upper bound)"]  # fmt: skip
    return []


def summary(results: dict) -> str:
    """The printed report: device, notes, validation verdicts, both tables."""
    checks = results["validation"]
    failed = [c for c in checks if not c["ok"]]
    lines = [f"device: {results['device']['name']}"]
    lines += [results[note] for note in ("gpu_note", "cublas_note") if results.get(note)]
    lines.append(f"validation: {len(checks) - len(failed)}/{len(checks)} checks passed")
    lines += [
        f"  FAILED {c['kernel']} {tuple(c['shape'])}: error {c['error']:.3g} >= {c['tolerance']:g}"
        for c in failed
    ]
    lines += [
        "",
        "matmul (float32, n×n·n×n):",
        matmul_table(results["matmul"]),
        "",
        "doublify (float32 n×n, GB/s = bytes read + written per second):",
        doublify_table(results["doublify"]),
    ]
    return "\n".join(lines) + "\n"


def write_outputs(results: dict, out_dir: Path) -> list[Path]:
    """results.json, table.txt and the plots into `out_dir` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table, data = out_dir / "table.txt", out_dir / "results.json"
    table.write_text(summary(results), encoding="utf-8")
    data.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return [data, table, *write_plots(results, out_dir)]


def write_plots(results: dict, out_dir: Path) -> list[Path]:
    """runtime_vs_n.png (log-log), gflops_vs_n.png and doublify_bandwidth.png."""
    device, rows = results["device"]["name"], results["matmul"]
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    paths = []
    for name, key, ylabel in (
        ("runtime_vs_n.png", "median_ms", "median runtime (ms)"),
        ("gflops_vs_n.png", "gflops", "GFLOP/s"),
    ):
        lines = []
        for kernel in kernels:
            points = sorted((r["n"], r[key]) for r in rows if r["kernel"] == kernel)
            style = "--o" if kernel in ("cublas", "numpy") else "-o"
            lines.append((*zip(*points, strict=True), style, kernel))
        xlabel, title = "n (C = A·B with n×n matrices)", f"float32 matmul on {device}"
        log_y = key == "median_ms"
        paths.append(_plot(out_dir / name, lines, xlabel, ylabel, title, log_y))
    if doublify := results["doublify"]:
        mb = [r["array_mb"] for r in doublify]
        lines = [
            (mb, [r["gb_s"] for r in doublify], "-o", "doublify"),
            (mb, [r["copy_gb_s"] for r in doublify], "--o", "copy (same bytes)"),
        ]
        title = f"doublify bandwidth on {device}"
        path = out_dir / "doublify_bandwidth.png"
        paths.append(_plot(path, lines, "array size (MB)", "GB/s (read + write)", title))
    return paths


def _plot(
    path: Path, lines: list[tuple], xlabel: str, ylabel: str, title: str, log_y: bool = False
) -> Path:
    """One PNG: every (xs, ys, style, label) line, x on a log2 scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for xs, ys, style, label in lines:
        ax.plot(xs, ys, style, label=label)
    ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
