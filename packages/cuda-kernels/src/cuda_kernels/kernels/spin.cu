// spin.cu: a kernel that only waits, so that the benchmark's host can run ahead of the GPU.
//
// Versions:
//   version 1 (`spin_wait`): one thread busy-waits `cycles` clock cycles of its SM.
//     Launched just before a timed batch, it keeps the GPU busy while the host queues the
//     start event, the whole batch of launches and the end event; the GPU then runs the
//     batch back to back, so short kernels are timed without the host's launch gaps.
//
// SPIN_THREADS (the block size, 1) comes as a -D define from cuda_kernels/kernels/ladder.py
// (`SPIN`), where the launcher reads it too. Built ahead of time by scripts/build_kernels.py
// (or by pycuda's SourceModule), like the other sources.

#ifndef SPIN_THREADS
#error "spin.cu needs -DSPIN_THREADS: pass nvcc_define_flags('spin.cu')"
#endif

extern "C" __global__ void __launch_bounds__(SPIN_THREADS) spin_wait(long long cycles) {
    const long long start = clock64();
    while (clock64() - start < cycles) {
    }
}
