// cuda_host.h — the CUDA emulation shared by the kernels/hostsim programs (maskedconv_v3_sim.cpp,
// position_sim.cpp, gated_sim.cpp), which run kernels/*.cu on the CPU where no GPU is at hand.
// A program includes this header, then the .cu files, which it compiles as host C++
// (PIXELCNN_HOST_SIM, defined here: common.cuh then leaves its PTX primitives to this file), so
// the kernels' own code runs unchanged.
//
// What is emulated, and how each emulation can catch a bug:
//   - blocks: launch() runs one block at a time, each as blockDim OS threads with a real
//     barrier (std::barrier) for __syncthreads; __shared__ is static (one block runs at a
//     time). Dynamic shared memory (g_dyn, which AT_SMEM makes position.cu's at_x) is
//     NaN-filled before each block, so a read of what the block never wrote shows.
//   - warp built-ins (__shfl_xor_sync, __ballot_sync, __syncwarp) exchange values between the
//     32 threads of a warp through a per-warp barrier: every lane posts its value and reads its
//     partner's between two warp barriers (all 32 lanes of a warp call them together, as on
//     the GPU).
//   - cp.async: the destination is poisoned (NaN) when the copy is issued and filled when
//     cp.async.wait_group retires its group, so a read of a stage before its data is waited
//     for and barriered, or a prefetch into a stage still being read, shows as NaN. The
//     source is read only for a valid copy: AddressSanitizer flags any read past a tensor,
//     and every copy from a masked weight is counted (g_forbidden_reads, for the weights a
//     program marks in g_forbidden: must be 0). A misaligned copy, or copies still pending
//     when a thread leaves the kernel, abort. g_copies16 and g_copies4 count the copies.
//   - mma.sync m16n8k8 tf32: the warp's 32 lanes meet at a barrier and every lane rebuilds
//     A (16x8), B (8x8) and C from all lanes' registers with the PTX ISA's fragment layout
//     (written here independently of the kernel's indexing), then takes its 4 results. An
//     operand whose low 13 bits are not 0 (not rounded to TF32) aborts.
//   - cvt.rna.tf32.f32: nn.RoundTF32's formula.
//   - fmaf is the C library's fused multiply-add, correctly rounded as on the GPU, so fmaf
//     chains give the GPU's bits.
// Limits:
//   - exp (and the other math functions) are the host's, so results that go through them are
//     to be checked against another kernel run here, not against the GPU's numbers.
//   - mma_tf32 sums the products in double and rounds once; the GPU's tensor cores truncate
//     their adds, so its results are to be checked within a tolerance, not bit for bit.
//   - blocks never run concurrently, and threadIdx/blockDim are one-dimensional (x only);
//     at most 32 warps (1024 threads) a block; a last partial warp gets a barrier of its size.
//   - warp built-ins ignore their mask: every lane of the warp must call them. Shuffled values
//     pass through a double (exact for float, double and 32-bit integers).
//   - most time goes to thread switching at the emulated barriers and to starting threads.
#pragma once

#ifndef PIXELCNN_HOST_SIM
#define PIXELCNN_HOST_SIM 1
#endif

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

// ---- CUDA built-ins ------------------------------------------------------------------------
struct Dim3 {
    int x = 0, y = 0, z = 0;
};
thread_local Dim3 threadIdx;
Dim3 blockIdx, blockDim, gridDim;  // one block runs at a time

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static  // one block runs at a time
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict
using std::max;
using std::min;

struct uint2 {
    unsigned x, y;
};
struct uint4 {
    unsigned x, y, z, w;
};
struct float2 {
    float x, y;
};
struct float4 {
    float x, y, z, w;
};
inline uint2 make_uint2(unsigned a, unsigned b) { return {a, b}; }
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
inline float2 make_float2(float a, float b) { return {a, b}; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline float __ldg(const float* p) { return *p; }
inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }

// ---- barriers and warp built-ins -----------------------------------------------------------
static std::barrier<>* g_block_bar;
static std::barrier<>* g_warp_bar[32];
static double g_xchg[32][32];  // [warp][lane]: the values the warp built-ins exchange
inline void __syncthreads() { g_block_bar->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { g_warp_bar[threadIdx.x / 32]->arrive_and_wait(); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int o) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    g_xchg[warp][lane] = (double)v;  // exact for float and double
    __syncwarp();
    T r = (T)g_xchg[warp][lane ^ o];
    __syncwarp();  // every lane has read before the next exchange writes
    return r;
}

inline unsigned __ballot_sync(unsigned, bool pred) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    g_xchg[warp][lane] = pred ? 1.0 : 0.0;
    __syncwarp();
    unsigned bits = 0;
    for (int l = 0; l < 32; l++)
        if (g_xchg[warp][l] != 0.0) bits |= 1u << l;
    __syncwarp();
    return bits;
}

// Dynamic shared memory (maskedconv_at_v2's at_x), NaN-filled by launch before each block.
static std::vector<float4> g_dyn;
#ifndef AT_SMEM
#define AT_SMEM float4* at_x = g_dyn.data()
#endif

// ---- cp.async ------------------------------------------------------------------------------
struct Copy {
    float* dst;
    const float* src;
    int n;
    bool valid;
};
thread_local std::vector<Copy> t_open;                // issued, not yet committed
thread_local std::vector<std::vector<Copy>> t_groups;  // committed, pending
static const float* g_forbidden_base;                 // masked weights: never to be read
static const std::vector<char>* g_forbidden;          // null: nothing is forbidden
static std::atomic<long> g_forbidden_reads{0}, g_copies16{0}, g_copies4{0};

static void issue(float* dst, const float* src, int n, bool valid) {
    if (valid && g_forbidden && src >= g_forbidden_base && src < g_forbidden_base + g_forbidden->size()) {
        for (int i = 0; i < n; i++)
            if ((*g_forbidden)[src - g_forbidden_base + i]) g_forbidden_reads++;
    }
    if (((uintptr_t)dst % (4 * n)) != 0 || (valid && ((uintptr_t)src % (4 * n)) != 0)) {
        std::fprintf(stderr, "cp.async of %d bytes misaligned\n", 4 * n);
        std::abort();
    }
    for (int i = 0; i < n; i++) dst[i] = std::numeric_limits<float>::quiet_NaN();
    t_open.push_back({dst, src, n, valid});
    (n == 4 ? g_copies16 : g_copies4)++;
}
inline void cp_async16(float* dst, const float* src, bool valid) { issue(dst, src, 4, valid); }
inline void cp_async4(float* dst, const float* src, bool valid) { issue(dst, src, 1, valid); }
inline void cp_async_commit() {
    t_groups.push_back(std::move(t_open));
    t_open.clear();
}
template <int n>
inline void cp_async_wait() {
    while ((int)t_groups.size() > n) {
        for (const Copy& c : t_groups.front())
            for (int i = 0; i < c.n; i++) c.dst[i] = c.valid ? c.src[i] : 0.0f;
        t_groups.erase(t_groups.begin());
    }
}

// ---- TF32 and mma.sync ---------------------------------------------------------------------
inline unsigned f2u(float f) {
    unsigned u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float u2f(unsigned u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
// nn.RoundTF32 (cvt.rna.tf32.f32).
inline float round_tf32(float v) {
    unsigned b = f2u(v);
    if ((b & 0x7f800000u) == 0x7f800000u) return v;
    return u2f((b + 0x1000u) & ~0x1fffu);
}
inline unsigned to_tf32(float v) { return f2u(round_tf32(v)); }

struct WarpRegs {
    unsigned a[32][4], b[32][2];
    float c[32][4];
};
static WarpRegs g_warp[32];

// not_tf32: a finite operand with any of its low 13 bits set (not rounded to TF32).
inline bool not_tf32(unsigned u) { return (u & 0x1fffu) && (u & 0x7f800000u) != 0x7f800000u; }

inline void mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    WarpRegs& w = g_warp[warp];
    for (int i = 0; i < 4; i++) w.a[lane][i] = a[i], w.c[lane][i] = d[i];
    for (int i = 0; i < 2; i++) w.b[lane][i] = b[i];
    for (int i = 0; i < 6; i++)
        if (not_tf32(i < 4 ? a[i] : b[i - 4])) {
            std::fprintf(stderr, "mma_tf32: operand %s[%d] = 0x%08x not rounded to TF32\n", i < 4 ? "a" : "b",
                         i < 4 ? i : i - 4, i < 4 ? a[i] : b[i - 4]);
            std::abort();
        }
    g_warp_bar[warp]->arrive_and_wait();
    // PTX ISA, mma.m16n8k8 .tf32: groupID = lane>>2, threadID_in_group = lane%4.
    float A[16][8], B[8][8];
    for (int l = 0; l < 32; l++) {
        const int g = l >> 2, t = l & 3;
        A[g][t] = u2f(w.a[l][0]);
        A[g + 8][t] = u2f(w.a[l][1]);
        A[g][t + 4] = u2f(w.a[l][2]);
        A[g + 8][t + 4] = u2f(w.a[l][3]);
        B[t][g] = u2f(w.b[l][0]);
        B[t + 4][g] = u2f(w.b[l][1]);
    }
    const int g = lane >> 2, t = lane & 3;
    for (int q = 0; q < 4; q++) {
        const int row = g + 8 * (q >> 1), col = 2 * t + (q & 1);
        double s = 0;
        for (int k = 0; k < 8; k++) s += (double)A[row][k] * B[k][col];
        d[q] = (float)(w.c[lane][q] + s);
    }
    g_warp_bar[warp]->arrive_and_wait();  // every lane has read the registers
}

// ---- launching -----------------------------------------------------------------------------
// launch runs body as every thread of every block of grid, one block at a time, with
// shared_bytes of NaN-filled dynamic shared memory.
inline void launch(Dim3 grid, int threads, size_t shared_bytes, const std::function<void()>& body) {
    if (threads < 1 || threads > 1024) {
        std::fprintf(stderr, "launch of %d threads a block\n", threads);
        std::abort();
    }
    gridDim = grid;
    blockDim = {threads, 1, 1};
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int z = 0; z < grid.z; z++)
        for (int y = 0; y < grid.y; y++)
            for (int x = 0; x < grid.x; x++) {
                blockIdx = {x, y, z};
                g_dyn.assign(shared_bytes / sizeof(float4) + 1, float4{nan, nan, nan, nan});
                std::barrier<> bar(threads);
                g_block_bar = &bar;
                std::vector<std::unique_ptr<std::barrier<>>> wb;
                for (int i = 0; i < (threads + 31) / 32; i++) {
                    wb.push_back(std::make_unique<std::barrier<>>(std::min(32, threads - 32 * i)));
                    g_warp_bar[i] = wb.back().get();
                }
                std::vector<std::thread> ts;
                for (int i = 0; i < threads; i++)
                    ts.emplace_back([&, i] {
                        threadIdx = {i, 0, 0};
                        body();
                        if (!t_open.empty() || !t_groups.empty()) {
                            std::fprintf(stderr, "cp.async copies left pending at exit\n");
                            std::abort();
                        }
                    });
                for (auto& t : ts) t.join();
            }
}
inline void launch(Dim3 grid, int threads, const std::function<void()>& body) { launch(grid, threads, 0, body); }

inline int cdiv(int a, int b) { return (a + b - 1) / b; }
