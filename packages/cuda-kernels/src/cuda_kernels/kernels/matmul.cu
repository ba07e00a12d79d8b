// matmul.cu: C = A·B in float32, A is n×m, B is m×p, C is n×p, all row-major and dense.
// Every kernel handles any n, m, p >= 1: loads past an edge read 0, stores past it are skipped.
//
// Versions (one named kernel each; the launch shape is given with each):
//   version 1 (`matmul_naive`): one thread per element of C, NAIVE_BLOCK² threads per block;
//     each thread streams a row of A and a column of B from global memory (the handout's).
//   version 2 (`matmul_tiled`): TILE×TILE shared-memory tiles, TILE×TILE threads; each
//     element of A and B is loaded from global memory once per tile instead of per thread.
//   version 3 (`matmul_blocktiled`): BT_BM×BT_BN tile of C per block of BT_THREADS threads,
//     each thread computes a BT_TM×BT_TN block of C in registers from BT_BK-deep slices of
//     A and B held in shared memory; global loads are float4 when the row length allows it
//     (m, p multiples of 4).
//   version 4 (`matmul_warptiled`): WT_BM×WT_BN tile per block of WT_THREADS threads (warps
//     of WT_WM×WT_WN warp tiles, WT_WNITER sub-tiles of WT_TM×WT_TN outputs per thread),
//     WT_BK-deep k-steps, shared memory double-buffered with the next tile prefetched into
//     registers while the current one is multiplied, so one __syncthreads per k-step and
//     global latency hidden behind the FMA loop.
//
// The tile sizes and block shapes are not written here: they come as -D defines from
// cuda_kernels/kernels/ladder.py (`nvcc_define_flags("matmul.cu")`), the one place the
// launcher reads them too; a missing define stops the compile. Every kernel states its
// block size in __launch_bounds__, so the compiler never plans more registers per thread
// than a full block can have.
//
// Shipped prebuilt (prebuilt/*.fatbin, from scripts/build_kernels.py); compiled at run time
// by pycuda (SourceModule, no_extern_c=True, the device's arch, the defines as options) only
// when no prebuilt image fits. Checked without a GPU by tests/kernels/test_compile.py:
//   nvcc -arch=sm_90 -cubin -Xptxas -v <the defines> matmul.cu

#if !defined(NAIVE_BLOCK) || !defined(TILE)
#error "matmul.cu needs -DNAIVE_BLOCK and -DTILE: pass nvcc_define_flags('matmul.cu')"
#endif
#if !defined(BT_BM) || !defined(BT_BN) || !defined(BT_BK) || !defined(BT_TM) || \
    !defined(BT_TN) || !defined(BT_THREADS)
#error "matmul.cu needs the BT_* tile defines: pass nvcc_define_flags('matmul.cu')"
#endif
#if !defined(WT_BM) || !defined(WT_BN) || !defined(WT_BK) || !defined(WT_WM) || \
    !defined(WT_WN) || !defined(WT_WNITER) || !defined(WT_TM) || !defined(WT_TN) || \
    !defined(WT_THREADS)
#error "matmul.cu needs the WT_* tile defines: pass nvcc_define_flags('matmul.cu')"
#endif

// ---------------------------------------------------------------------------------------
// version 1: naive. Launch: block (NAIVE_BLOCK, NAIVE_BLOCK),
// grid (ceil(p/NAIVE_BLOCK), ceil(n/NAIVE_BLOCK)).
extern "C" __global__ void __launch_bounds__(NAIVE_BLOCK * NAIVE_BLOCK)
matmul_naive(const float* __restrict__ A, const float* __restrict__ B,
             float* __restrict__ C, int n, int m, int p) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    const int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row >= n || col >= p) return;
    float acc = 0.0f;
    for (int k = 0; k < m; ++k) {
        acc += A[(size_t)row * m + k] * B[(size_t)k * p + col];
    }
    C[(size_t)row * p + col] = acc;
}

// ---------------------------------------------------------------------------------------
// version 2: shared-memory tiles. Launch: block (TILE, TILE), grid (ceil(p/TILE), ceil(n/TILE)).
// No padding is needed: in the inner loop a warp (32 consecutive tx, one ty) reads
// As[ty][k], one address, which is a broadcast, and Bs[k][tx], 32 consecutive words in 32
// banks; the tile stores are row-wise and consecutive too.
extern "C" __global__ void __launch_bounds__(TILE * TILE)
matmul_tiled(const float* __restrict__ A, const float* __restrict__ B,
             float* __restrict__ C, int n, int m, int p) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int row = blockIdx.y * TILE + ty;
    const int col = blockIdx.x * TILE + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < m; k0 += TILE) {
        const int a_col = k0 + tx, b_row = k0 + ty;
        As[ty][tx] = (row < n && a_col < m) ? A[(size_t)row * m + a_col] : 0.0f;
        Bs[ty][tx] = (b_row < m && col < p) ? B[(size_t)b_row * p + col] : 0.0f;
        __syncthreads();
#pragma unroll
        for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < n && col < p) C[(size_t)row * p + col] = acc;
}

// ---------------------------------------------------------------------------------------
// Shared by versions 3 and 4: guarded loads of 4 consecutive floats of a row-major matrix
// with `cols` columns. `vec` (cols % 4 == 0, uniform over the launch) allows one aligned
// float4 load; otherwise each element is loaded alone. Out-of-range elements read 0.
__device__ __forceinline__ float4 load4(const float* __restrict__ M, int rows, int cols,
                                        int r, int c, bool vec) {
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r >= rows) return v;
    const float* src = M + (size_t)r * cols + c;
    if (vec) {
        if (c < cols) v = *reinterpret_cast<const float4*>(src);  // c+3 < cols as cols%4==0
    } else {
        if (c + 0 < cols) v.x = src[0];
        if (c + 1 < cols) v.y = src[1];
        if (c + 2 < cols) v.z = src[2];
        if (c + 3 < cols) v.w = src[3];
    }
    return v;
}

// Guarded store of 4 consecutive results of row `r` of C (p columns) starting at column c.
__device__ __forceinline__ void store4(float* __restrict__ C, int n, int p, int r, int c,
                                       float4 v, bool vec) {
    if (r >= n) return;
    float* dst = C + (size_t)r * p + c;
    if (vec) {
        if (c < p) *reinterpret_cast<float4*>(dst) = v;
    } else {
        if (c + 0 < p) dst[0] = v.x;
        if (c + 1 < p) dst[1] = v.y;
        if (c + 2 < p) dst[2] = v.z;
        if (c + 3 < p) dst[3] = v.w;
    }
}

// ---------------------------------------------------------------------------------------
// version 3: 2-D block tiling. Launch: block (BT_THREADS), grid (ceil(p/BT_BN), ceil(n/BT_BM)).
static_assert(BT_THREADS == (BT_BM / BT_TM) * (BT_BN / BT_TN), "one thread per TM×TN block");
static_assert(BT_BM * BT_BK / 4 == BT_THREADS, "each thread loads one float4 of the A tile");
static_assert(BT_BK * BT_BN / 4 == BT_THREADS, "each thread loads one float4 of the B tile");
static_assert(BT_TM % 4 == 0 && BT_TN % 4 == 0, "registers are filled by float4");

extern "C" __global__ void __launch_bounds__(BT_THREADS)
matmul_blocktiled(const float* __restrict__ A, const float* __restrict__ B,
                  float* __restrict__ C, int n, int m, int p) {
    __shared__ __align__(16) float As[BT_BK][BT_BM];  // A tile, transposed: As[k][row]
    __shared__ __align__(16) float Bs[BT_BK][BT_BN];  // B tile: Bs[k][col]
    const int tid = threadIdx.x;
    const int bm = blockIdx.y * BT_BM, bn = blockIdx.x * BT_BN;
    const int t_row = tid / (BT_BN / BT_TN);  // which BT_TM rows of the tile
    const int t_col = tid % (BT_BN / BT_TN);  // which BT_TN columns of the tile
    // Each thread loads one float4 of the BM×BK A tile and one of the BK×BN B tile.
    const int a_row = tid / (BT_BK / 4), a_c4 = tid % (BT_BK / 4);
    const int b_row = tid / (BT_BN / 4), b_c4 = tid % (BT_BN / 4);
    const bool a_vec = (m % 4) == 0, b_vec = (p % 4) == 0;

    float acc[BT_TM][BT_TN] = {};
    float reg_m[BT_TM], reg_n[BT_TN];
    for (int k0 = 0; k0 < m; k0 += BT_BK) {
        const float4 a4 = load4(A, n, m, bm + a_row, k0 + a_c4 * 4, a_vec);
        As[a_c4 * 4 + 0][a_row] = a4.x;
        As[a_c4 * 4 + 1][a_row] = a4.y;
        As[a_c4 * 4 + 2][a_row] = a4.z;
        As[a_c4 * 4 + 3][a_row] = a4.w;
        const float4 b4 = load4(B, m, p, k0 + b_row, bn + b_c4 * 4, b_vec);
        *reinterpret_cast<float4*>(&Bs[b_row][b_c4 * 4]) = b4;
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BT_BK; ++k) {
#pragma unroll
            for (int i = 0; i < BT_TM; i += 4) {
                const float4 v = *reinterpret_cast<const float4*>(&As[k][t_row * BT_TM + i]);
                reg_m[i] = v.x; reg_m[i + 1] = v.y; reg_m[i + 2] = v.z; reg_m[i + 3] = v.w;
            }
#pragma unroll
            for (int j = 0; j < BT_TN; j += 4) {
                const float4 v = *reinterpret_cast<const float4*>(&Bs[k][t_col * BT_TN + j]);
                reg_n[j] = v.x; reg_n[j + 1] = v.y; reg_n[j + 2] = v.z; reg_n[j + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < BT_TM; ++i)
#pragma unroll
                for (int j = 0; j < BT_TN; ++j) acc[i][j] += reg_m[i] * reg_n[j];
        }
        __syncthreads();
    }
    const bool c_vec = (p % 4) == 0;
#pragma unroll
    for (int i = 0; i < BT_TM; ++i) {
#pragma unroll
        for (int j = 0; j < BT_TN; j += 4) {
            store4(C, n, p, bm + t_row * BT_TM + i, bn + t_col * BT_TN + j,
                   make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]), c_vec);
        }
    }
}

// ---------------------------------------------------------------------------------------
// version 4: warp tiling with double-buffered shared memory.
// Launch: block (WT_THREADS), grid (ceil(p/WT_BN), ceil(n/WT_BM)). WT_WM×WT_WN is a warp
// tile, WT_WNITER its column sub-tiles, WT_TM×WT_TN the outputs per thread per sub-tile.
#define WT_WMITER ((WT_WM * WT_WN) / (32 * WT_TM * WT_TN * WT_WNITER))  // row sub-tiles
#define WT_WSUBM (WT_WM / WT_WMITER)
#define WT_WSUBN (WT_WN / WT_WNITER)
#define WT_A_LOADS ((WT_BM * WT_BK / 4) / WT_THREADS)  // float4 loads of A per thread
#define WT_B_LOADS ((WT_BK * WT_BN / 4) / WT_THREADS)  // float4 loads of B per thread

static_assert(WT_THREADS == (WT_BM / WT_WM) * (WT_BN / WT_WN) * 32, "one warp per warp tile");
static_assert(WT_WMITER * WT_WSUBM == WT_WM, "warp tile rows must split evenly");
static_assert((WT_WSUBM / WT_TM) * (WT_WSUBN / WT_TN) == 32, "one sub-tile is one warp");
static_assert(WT_A_LOADS * WT_THREADS * 4 == WT_BM * WT_BK, "A tile load must be exact");
static_assert(WT_B_LOADS * WT_THREADS * 4 == WT_BK * WT_BN, "B tile load must be exact");

extern "C" __global__ void __launch_bounds__(WT_THREADS)
matmul_warptiled(const float* __restrict__ A, const float* __restrict__ B,
                 float* __restrict__ C, int n, int m, int p) {
    __shared__ __align__(16) float As[2][WT_BK][WT_BM];  // transposed: As[buf][k][row]
    __shared__ __align__(16) float Bs[2][WT_BK][WT_BN];  // Bs[buf][k][col]
    const int tid = threadIdx.x;
    const int bm = blockIdx.y * WT_BM, bn = blockIdx.x * WT_BN;
    const int warp = tid / 32, lane = tid % 32;
    const int warp_row = warp / (WT_BN / WT_WN), warp_col = warp % (WT_BN / WT_WN);
    const int t_row = lane / (WT_WSUBN / WT_TN);
    const int t_col = lane % (WT_WSUBN / WT_TN);
    const bool a_vec = (m % 4) == 0, b_vec = (p % 4) == 0;

    float4 a_next[WT_A_LOADS], b_next[WT_B_LOADS];
    // float4 number f = tid + l*THREADS of the A tile sits at row f/(BK/4), column 4*(f%(BK/4));
    // of the B tile at row f/(BN/4), column 4*(f%(BN/4)).
    auto fetch = [&](int k0) {
#pragma unroll
        for (int l = 0; l < WT_A_LOADS; ++l) {
            const int f = tid + l * WT_THREADS;
            a_next[l] = load4(A, n, m, bm + f / (WT_BK / 4), k0 + 4 * (f % (WT_BK / 4)), a_vec);
        }
#pragma unroll
        for (int l = 0; l < WT_B_LOADS; ++l) {
            const int f = tid + l * WT_THREADS;
            b_next[l] = load4(B, m, p, k0 + f / (WT_BN / 4), bn + 4 * (f % (WT_BN / 4)), b_vec);
        }
    };
    auto stash = [&](int buf) {
#pragma unroll
        for (int l = 0; l < WT_A_LOADS; ++l) {
            const int f = tid + l * WT_THREADS;
            const int r = f / (WT_BK / 4), c = 4 * (f % (WT_BK / 4));
            As[buf][c + 0][r] = a_next[l].x;
            As[buf][c + 1][r] = a_next[l].y;
            As[buf][c + 2][r] = a_next[l].z;
            As[buf][c + 3][r] = a_next[l].w;
        }
#pragma unroll
        for (int l = 0; l < WT_B_LOADS; ++l) {
            const int f = tid + l * WT_THREADS;
            *reinterpret_cast<float4*>(&Bs[buf][f / (WT_BN / 4)][4 * (f % (WT_BN / 4))]) =
                b_next[l];
        }
    };

    float acc[WT_WMITER * WT_TM][WT_WNITER * WT_TN] = {};
    float reg_m[WT_WMITER * WT_TM], reg_n[WT_WNITER * WT_TN];
    const int k_tiles = (m + WT_BK - 1) / WT_BK;
    fetch(0);
    stash(0);
    __syncthreads();
    for (int kt = 0; kt < k_tiles; ++kt) {
        const int cur = kt & 1;
        const bool more = kt + 1 < k_tiles;
        if (more) fetch((kt + 1) * WT_BK);  // in flight while we multiply below
#pragma unroll
        for (int k = 0; k < WT_BK; ++k) {
#pragma unroll
            for (int ws = 0; ws < WT_WMITER; ++ws)
#pragma unroll
                for (int i = 0; i < WT_TM; i += 4) {
                    const float4 v = *reinterpret_cast<const float4*>(
                        &As[cur][k][warp_row * WT_WM + ws * WT_WSUBM + t_row * WT_TM + i]);
                    reg_m[ws * WT_TM + i + 0] = v.x;
                    reg_m[ws * WT_TM + i + 1] = v.y;
                    reg_m[ws * WT_TM + i + 2] = v.z;
                    reg_m[ws * WT_TM + i + 3] = v.w;
                }
#pragma unroll
            for (int ws = 0; ws < WT_WNITER; ++ws) {
                const float4 v = *reinterpret_cast<const float4*>(
                    &Bs[cur][k][warp_col * WT_WN + ws * WT_WSUBN + t_col * WT_TN]);
                reg_n[ws * WT_TN + 0] = v.x;
                reg_n[ws * WT_TN + 1] = v.y;
                reg_n[ws * WT_TN + 2] = v.z;
                reg_n[ws * WT_TN + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < WT_WMITER * WT_TM; ++i)
#pragma unroll
                for (int j = 0; j < WT_WNITER * WT_TN; ++j) acc[i][j] += reg_m[i] * reg_n[j];
        }
        // Buffer cur^1 was last read before the previous barrier, so it is free to fill.
        if (more) stash(cur ^ 1);
        __syncthreads();
    }

    const bool c_vec = (p % 4) == 0;
#pragma unroll
    for (int ws_m = 0; ws_m < WT_WMITER; ++ws_m)
#pragma unroll
        for (int i = 0; i < WT_TM; ++i) {
            const int r = bm + warp_row * WT_WM + ws_m * WT_WSUBM + t_row * WT_TM + i;
#pragma unroll
            for (int ws_n = 0; ws_n < WT_WNITER; ++ws_n) {
                const int c = bn + warp_col * WT_WN + ws_n * WT_WSUBN + t_col * WT_TN;
                const float* v = &acc[ws_m * WT_TM + i][ws_n * WT_TN];
                store4(C, n, p, r, c, make_float4(v[0], v[1], v[2], v[3]), c_vec);
            }
        }
}
