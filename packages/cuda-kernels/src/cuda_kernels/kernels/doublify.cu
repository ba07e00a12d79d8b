// doublify.cu: y = 2·x for a rows×cols float32 matrix stored row-major.
//
// Versions:
//   version 1 (`doublify`): one thread per element, 16×16×1 blocks, a 2-D grid of
//     ceil(cols/16)×ceil(rows/16) blocks so any shape is covered; threads past the edge
//     return. Memory-bound: it reads 4 bytes and writes 4 bytes per element, so it is
//     compared with a device-to-device copy of the same size.
//
// Compiled at run time by pycuda (SourceModule, no_extern_c=True, arch of the device);
// checked without a GPU by: nvcc -arch=sm_90 -cubin -Xptxas -v doublify.cu

extern "C" __global__ void doublify(const float* __restrict__ x, float* __restrict__ y,
                                    int rows, int cols) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    const int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) {
        const size_t i = (size_t)row * cols + col;
        y[i] = 2.0f * x[i];
    }
}
