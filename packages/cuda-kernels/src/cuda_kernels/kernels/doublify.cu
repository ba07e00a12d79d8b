// doublify.cu: y = 2·x for a rows×cols float32 matrix stored row-major.
//
// Versions:
//   version 1 (`doublify`): one thread per element, DOUBLIFY_BLOCK² threads per block, a
//     2-D grid of ceil(cols/DOUBLIFY_BLOCK)×ceil(rows/DOUBLIFY_BLOCK) blocks so any shape is
//     covered; threads past the edge return. Memory-bound: it reads 4 bytes and writes 4
//     bytes per element, so it is compared with a device-to-device copy of the same size.
//
// DOUBLIFY_BLOCK comes as a -D define from cuda_kernels/kernels/ladder.py
// (`nvcc_define_flags("doublify.cu")`), where the launcher reads it too.
// Shipped prebuilt (prebuilt/*.fatbin, from scripts/build_kernels.py); compiled at run time
// by pycuda (SourceModule, no_extern_c=True, the device's arch, the defines as options) only
// when no prebuilt image fits. Checked without a GPU by tests/kernels/test_compile.py:
//   nvcc -arch=sm_90 -cubin -Xptxas -v <the defines> doublify.cu

#ifndef DOUBLIFY_BLOCK
#error "doublify.cu needs -DDOUBLIFY_BLOCK: pass nvcc_define_flags('doublify.cu')"
#endif

extern "C" __global__ void __launch_bounds__(DOUBLIFY_BLOCK * DOUBLIFY_BLOCK)
doublify(const float* __restrict__ x, float* __restrict__ y, int rows, int cols) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    const int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) {
        const size_t i = (size_t)row * cols + col;
        y[i] = 2.0f * x[i];
    }
}
