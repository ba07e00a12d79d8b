// spin.cu: a kernel that only waits, so that the benchmark's host can run ahead of the GPU.
//
// Versions:
//   version 1 (`spin_wait`): one thread busy-waits `cycles` clock cycles of its SM.
//     Launched just before a timed batch, it keeps the GPU busy while the host queues the
//     start event, the whole batch of launches and the end event; the GPU then runs the
//     batch back to back, so short kernels are timed without the host's launch gaps.
//
// Built ahead of time by scripts/build_kernels.py (or by pycuda's SourceModule), like the
// other sources; it takes no defines.

extern "C" __global__ void __launch_bounds__(SPIN_THREADS) spin_wait(long long cycles) {
    const long long start = clock64();
    while (clock64() - start < cycles) {
    }
}
