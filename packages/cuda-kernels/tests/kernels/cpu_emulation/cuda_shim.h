// cuda_shim.h: just enough of CUDA's device dialect for plain C++20 to run our .cu kernels
// on the CPU, one std::thread per CUDA thread, a std::barrier as __syncthreads, and the
// blocks of a grid one after another (so a function-scope `static` array behaves as the
// block's __shared__ memory). Test-only: it checks index arithmetic, edge guards and
// barriers of the real kernel source, not speed.
#pragma once
#include <barrier>
#include <cstddef>
#include <cstring>

struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx;
inline dim3 blockIdx;  // blocks run one at a time, so one shared value is enough
inline dim3 blockDim;
inline dim3 gridDim;
inline std::barrier<>* block_barrier = nullptr;

inline void __syncthreads() { block_barrier->arrive_and_wait(); }

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
