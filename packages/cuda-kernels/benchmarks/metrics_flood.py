"""How much a flood of metrics requests slows small calls: p50 of a 64x64 matmul through
KernelClient, quiet and while another process sends requests to `/metrics` as fast as its
threads can (each answered, 200 or 429, counted). Numbers in BENCHMARKS.md.

    uv run --package cuda-kernels --extra serve python \
        packages/cuda-kernels/benchmarks/metrics_flood.py [--seconds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from cuda_kernels.rpc.client import KernelClient
from cuda_kernels.rpc.server import KernelServer, ServerConfig

FLOOD = """
import sys, threading, time, urllib.error, urllib.request
url, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
answered = [0]
def flood():
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=10).read()
        except urllib.error.HTTPError:
            pass
        answered[0] += 1
workers = [threading.Thread(target=flood) for _ in range(threads)]
[w.start() for w in workers]
[w.join() for w in workers]
print(answered[0] / seconds)
"""


def p50_ms(address: str, seconds: float) -> float:
    """Median latency of back-to-back small matmuls for `seconds`."""
    a = np.ones((64, 64), np.float32)
    latencies = []
    with KernelClient(address) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            client.matmul(a, a)
            latencies.append((time.perf_counter() - start) * 1e3)
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    server = KernelServer(ServerConfig(port=0, backend="numpy", metrics_port=0)).start()
    try:
        quiet = p50_ms(server.address, args.seconds)
        url = f"http://127.0.0.1:{server.metrics_port}/metrics"
        flood = subprocess.Popen(
            [sys.executable, "-c", FLOOD, url, str(args.seconds + 2), str(args.threads)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1)  # the flood is under way
        flooded = p50_ms(server.address, args.seconds)
        rate = float(flood.communicate()[0])
    finally:
        server.stop()
    print(f"quiet p50 {quiet:.3f} ms; during {rate:.0f} metrics requests/s: p50 {flooded:.3f} ms")


if __name__ == "__main__":
    main()
