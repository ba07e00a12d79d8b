// harness.cpp: runs one kernel of matmul.cu or doublify.cu on the CPU via cuda_shim.h.
// usage: harness KERNEL GRID_X GRID_Y BLOCK_X BLOCK_Y IN_DIR OUT_FILE N M P
//   matmul kernels read IN_DIR/a.bin (n×m) and IN_DIR/b.bin (m×p), write n×p floats;
//   doublify reads IN_DIR/a.bin (n×m) and writes n×m floats (P is ignored).
// The output starts as NaN, so an element a kernel skips shows up as NaN.
// MATMUL_KERNELS, defined by the test from kernels/ladder.py, lists the matmul kernels as
// X(matmul_naive) X(matmul_tiled) ...
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cuda_shim.h"

#include KERNEL_SOURCE_MATMUL
#include KERNEL_SOURCE_DOUBLIFY

static std::vector<float> read_floats(const std::string& path, size_t count) {
    std::vector<float> v(count);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f || std::fread(v.data(), sizeof(float), count, f) != count) {
        std::fprintf(stderr, "cannot read %zu floats from %s\n", count, path.c_str());
        std::exit(2);
    }
    std::fclose(f);
    return v;
}

static void launch(dim3 grid, dim3 block, const std::function<void()>& body) {
    gridDim = grid;
    blockDim = block;
    const unsigned threads = block.x * block.y * block.z;
    for (unsigned by = 0; by < grid.y; ++by) {
        for (unsigned bx = 0; bx < grid.x; ++bx) {
            blockIdx = dim3{bx, by, 0};
            std::barrier<> barrier(threads);
            block_barrier = &barrier;
            std::vector<std::thread> pool;
            pool.reserve(threads);
            for (unsigned t = 0; t < threads; ++t) {
                pool.emplace_back([&, t] {
                    threadIdx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                    body();
                });
            }
            for (auto& th : pool) th.join();
        }
    }
}

int main(int argc, char** argv) {
    if (argc != 11) {
        std::fprintf(stderr, "usage: harness KERNEL GX GY BX BY IN_DIR OUT N M P\n");
        return 2;
    }
    const std::string kernel = argv[1];
    const dim3 grid{(unsigned)std::atoi(argv[2]), (unsigned)std::atoi(argv[3]), 1};
    const dim3 block{(unsigned)std::atoi(argv[4]), (unsigned)std::atoi(argv[5]), 1};
    const std::string in_dir = argv[6];
    const int n = std::atoi(argv[8]), m = std::atoi(argv[9]), p = std::atoi(argv[10]);
    std::vector<float> a = read_floats(in_dir + "/a.bin", (size_t)n * m);
    std::vector<float> c;
    if (kernel == "doublify") {
        c.assign((size_t)n * m, NAN);
        launch(grid, block, [&] { doublify(a.data(), c.data(), n, m); });
    } else {
        std::vector<float> b = read_floats(in_dir + "/b.bin", (size_t)m * p);
        c.assign((size_t)n * p, NAN);
        void (*fn)(const float*, const float*, float*, int, int, int) = nullptr;
#define X(name) if (kernel == #name) fn = name;
        MATMUL_KERNELS
#undef X
        if (!fn) {
            std::fprintf(stderr, "unknown kernel %s\n", kernel.c_str());
            return 2;
        }
        launch(grid, block, [&] { fn(a.data(), b.data(), c.data(), n, m, p); });
    }
    FILE* out = std::fopen(argv[7], "wb");
    if (!out || std::fwrite(c.data(), sizeof(float), c.size(), out) != c.size()) return 3;
    std::fclose(out);
    return 0;
}
