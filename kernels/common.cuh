// common.cuh — helpers shared by every kernel file: the conv geometry, warp/block reductions
// and the Philox4x32-10 generator (a bit-exact port of nn/philox.go).
//
// Conventions (see cuda/doc.go): every tensor is float32, NHWC for activations, [K,K,In,Out]
// for conv weights. Every kernel parameter is a pointer or a scalar of at most 8 bytes (int,
// float, unsigned long long): gorgonia.org/cu's Launch copies exactly 8 bytes per parameter,
// so a struct parameter would be read past its slot. Index arithmetic is 32-bit: the host
// refuses tensors of more than 2^30 elements before launching.
#pragma once

#include <stdint.h>

#define WARP_SIZE 32
#define FULL_MASK 0xffffffffu

// ConvGeom is the geometry of one masked convolution, built inside each conv kernel from its
// scalar parameters (CONV_PARAMS / CONV_GEOM).
// The live weights are the matrix W[0 : conv_kw(g), 0 : out] (row kk = tap*in + ci) of the
// [kh, k, in, out] layout: row kk < taps*in is a fully unmasked tap; when the region has a
// colour-ruled centre (has_centre: causal and row), the next in rows are the centre tap, whose
// rows [taps*in, taps*in + centre_limit(j)) are live for output colour group j. The fully live
// taps of every region are a prefix of the kernel's raster order (nn.ConvSpec.Taps), and tap t
// sits at offset tap_offset(t) (nn.ConvSpec.TapOffset): the kernels below walk taps by index
// only, so one code path serves every region and dilation.
struct ConvGeom {
    int n, h, w;     // batch, height, width
    int in, out;     // features
    int k;           // kernel width (odd)
    int kh;          // kernel height: 1 for the row region, else k
    int dil;         // dilation (>= 1)
    int taps;        // fully unmasked taps (the seed's causal: (k*k-1)/2)
    int has_centre;  // 1 when the centre tap (index taps) follows under the colour rule
    int colors;      // colour groups
    int mask_b;      // 1 for mask B (i <= j), 0 for mask A (i < j)
    int relu;        // 1 when the conv has a fused ReLU epilogue
};

// Tap regions (nn.Region; cuda/conv.go passes these codes).
#define REGION_CAUSAL 0     // k x k: rows above, left of the centre, the centre under the colour rule
#define REGION_ROW 1        // 1 x k: left of the centre, the centre under the colour rule
#define REGION_ABOVE 2      // k x k: the rows above the centre row only
#define REGION_ABOVE_ROW 3  // k x k: the rows above and the whole centre row, unmasked
#define REGION_FULL 4       // 1 x 1, unmasked

#define CONV_PARAMS \
    int n, int h, int w, int in, int out, int k, int colors, int mask_b, int relu, int region, int dil
#define CONV_GEOM ConvGeom g = make_geom(n, h, w, in, out, k, colors, mask_b, relu, region, dil)

__device__ __forceinline__ ConvGeom make_geom(int n, int h, int w, int in, int out, int k, int colors,
                                              int mask_b, int relu, int region, int dil) {
    ConvGeom g;
    g.n = n; g.h = h; g.w = w; g.in = in; g.out = out; g.k = k;
    g.kh = k;
    g.dil = dil < 1 ? 1 : dil;
    g.has_centre = 0;
    switch (region) {
    case REGION_ROW: g.kh = 1; g.taps = k / 2; g.has_centre = 1; break;
    case REGION_ABOVE: g.taps = k / 2 * k; break;
    case REGION_ABOVE_ROW: g.taps = (k / 2 + 1) * k; break;
    case REGION_FULL: g.taps = k * k; break;
    default: g.taps = (k * k - 1) / 2; g.has_centre = 1; break;  // REGION_CAUSAL
    }
    g.colors = colors; g.mask_b = mask_b; g.relu = relu;
    return g;
}

__device__ __forceinline__ int conv_positions(const ConvGeom& g) { return g.n * g.h * g.w; }

// conv_kw is the row count of the live weight matrix: (taps + has_centre) * in.
__device__ __forceinline__ int conv_kw(const ConvGeom& g) { return (g.taps + g.has_centre) * g.in; }

// centre_limit is CentreInLimit(j): the prefix of centre inputs output colour j may read (0
// for a region without a colour-ruled centre).
__device__ __forceinline__ int centre_limit(const ConvGeom& g, int j) {
    if (!g.has_centre) return 0;
    int grp = g.in / g.colors;
    return g.mask_b ? (j + 1) * grp : j * grp;
}

// live_rows(o) is the live inner dimension of output feature o: taps*in + centre_limit(o's colour).
__device__ __forceinline__ int live_rows(const ConvGeom& g, int o) {
    int j = o / (g.out / g.colors);
    return g.taps * g.in + centre_limit(g, j);
}

// first_live_out returns the first output feature whose centre reads input feature ci
// (output colours form a suffix: j >= ci/grp for mask B, j > ci/grp for mask A); it returns
// g.out when no output reads ci through the centre (always, for a region without one).
__device__ __forceinline__ int first_live_out(const ConvGeom& g, int ci) {
    if (!g.has_centre) return g.out;
    int j = ci / (g.in / g.colors) + (g.mask_b ? 0 : 1);
    return j >= g.colors ? g.out : j * (g.out / g.colors);
}

// tap_offset gives the (dy, dx) shift of kernel position t in raster order, scaled by the
// dilation (nn.ConvSpec.TapOffset): t < taps are the fully live taps, and t == taps is the
// centre, (0, 0), when has_centre. For the seed's causal k x k taps (kh = k, dil = 1) this is
// t / k - k/2, t % k - k/2, as before regions existed.
__device__ __forceinline__ void tap_offset(const ConvGeom& g, int t, int& dy, int& dx) {
    dy = (t / g.k - g.kh / 2) * g.dil;
    dx = (t % g.k - g.k / 2) * g.dil;
}

// shift_pos returns the flattened position of m shifted by (dy, dx) inside the same image, or
// -1 when the shifted pixel is outside it ("same" zero padding).
__device__ __forceinline__ int shift_pos(const ConvGeom& g, int m, int dy, int dx) {
    int wpos = m % g.w;
    int hpos = (m / g.w) % g.h;
    int hh = hpos + dy, ww = wpos + dx;
    if (hh < 0 || hh >= g.h || ww < 0 || ww >= g.w) return -1;
    return m + dy * g.w + dx;
}

// im2col_load returns the im2col entry (m, kk): x at position m shifted by tap kk/in, feature
// kk%in, or 0 outside the image. kk must be < conv_kw(g).
__device__ __forceinline__ float im2col_load(const float* __restrict__ x, const ConvGeom& g,
                                             int m, int kk) {
    int t = kk / g.in, ci = kk - t * g.in;
    int dy, dx;
    tap_offset(g, t, dy, dx);
    int q = shift_pos(g, m, dy, dx);
    return q < 0 ? 0.0f : x[q * g.in + ci];
}

// relu_grad is dy masked by the fused ReLU: dz = dy * (y > 0) when relu, else dy.
__device__ __forceinline__ float relu_grad(const float* __restrict__ dy, const float* __restrict__ y,
                                           int relu, int i) {
    float d = dy[i];
    return (relu && !(y[i] > 0.0f)) ? 0.0f : d;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = WARP_SIZE / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// block_sum_d sums one double per thread over the block (blockDim.x a multiple of 32, at most
// 1024) in a fixed order; the result is valid in thread 0. The butterfly and the final
// per-warp loop are fixed by the launch shape, so the sum is deterministic.
__device__ __forceinline__ double block_sum_d(double v) {
    __shared__ double warp_part[32];
    int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;
    v = warp_sum_d(v);
    if (lane == 0) warp_part[warp] = v;
    __syncthreads();
    double s = 0.0;
    if (threadIdx.x == 0) {
        int warps = blockDim.x / WARP_SIZE;
        for (int i = 0; i < warps; i++) s += warp_part[i];
    }
    return s;
}

// philox4x32_10 is nn.Philox4x32: 10 rounds of the Philox bijection on ctr under key.
__device__ __forceinline__ uint4 philox4x32_10(uint2 key, uint4 ctr) {
    const uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    const uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
#pragma unroll
    for (int r = 0; r < 10; r++) {
        uint32_t hi0 = __umulhi(m0, ctr.x), lo0 = m0 * ctr.x;
        uint32_t hi1 = __umulhi(m1, ctr.z), lo1 = m1 * ctr.z;
        ctr = make_uint4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
        key.x += w0;
        key.y += w1;
    }
    return ctr;
}

// philox_uniform is nn.Uniform(seed, counter, row): 24 random bits as a float in [0, 1).
__device__ __forceinline__ float philox_uniform(unsigned long long seed, unsigned long long counter,
                                                int row) {
    uint2 key = make_uint2((uint32_t)seed, (uint32_t)(seed >> 32));
    uint4 ctr = make_uint4((uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)row, 0u);
    uint4 out = philox4x32_10(key, ctr);
    return (float)(out.x >> 8) * (1.0f / 16777216.0f);
}

// ---------------------------------------------------------------------------------------------
// Tensor-core and async-copy primitives (sm_80+; PTX for compute_80). Used by the version 3
// conv kernels. kernels/hostsim compiles the kernels as host C++ with PIXELCNN_HOST_SIM
// defined and supplies emulations of these (and of the CUDA built-ins) instead.
#ifndef PIXELCNN_HOST_SIM

// smem_u32 is the shared-state-space address of a pointer into shared memory.
__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

// cp_async16 copies 16 bytes global -> shared, bypassing L1 (.cg), or zero-fills the 16 bytes
// when !valid (src-size 0: nothing is read). dst and src must be 16-byte aligned; src must be
// a valid address even when !valid (callers pass the tensor's base).
__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
                 "r"(valid ? 16 : 0)
                 : "memory");
}

// cp_async4 copies one float global -> shared (.ca: .cg allows only 16-byte copies), or
// zero-fills it when !valid. dst and src must be 4-byte aligned.
__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_u32(dst)), "l"(src),
                 "r"(valid ? 4 : 0)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// cp_async_wait<n> waits until at most n of this thread's committed groups are pending.
template <int n>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(n) : "memory");
}

// to_tf32 rounds v to TF32 to nearest, ties away from zero (cvt.rna): nn.RoundTF32 bit for
// bit. The result is the float's bit pattern with the low 13 mantissa bits cleared.
__device__ __forceinline__ unsigned to_tf32(float v) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(v));
    return r;
}

// mma_tf32 is d += a * b for one 16x8x8 tile: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// with FP32 accumulation, a warp-wide instruction. Fragment layout (PTX ISA, "Matrix Fragments
// for mma.m16n8k8", .tf32), with groupID = lane>>2 and tig = lane&3 (threadID_in_group):
//   A (16x8, row): a0 (groupID, tig), a1 (groupID+8, tig), a2 (groupID, tig+4), a3 (groupID+8, tig+4)
//   B (8x8, col):  b0 (k = tig, n = groupID), b1 (k = tig+4, n = groupID)
//   C/D (16x8):    c0 (groupID, 2*tig), c1 (groupID, 2*tig+1), c2 (groupID+8, 2*tig), c3 (groupID+8, 2*tig+1)
__device__ __forceinline__ void mma_tf32(float d[4], const unsigned a[4], const unsigned b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif  // PIXELCNN_HOST_SIM
