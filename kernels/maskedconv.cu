// maskedconv.cu — PixelCNN masked convolution: forward with bias and fused ReLU, and backward
// (dX, dW, dB), over NHWC activations and [K,K,In,Out] weights.
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/maskedconv.ptx).
//
// The convolution is an implicit GEMM. Row kk of the live weight matrix W[conv_kw, out] is
// tap kk/in, input feature kk%in; taps before the centre are fully live, and for output feature
// o only the rows kk < live_rows(o) = taps*in + CentreInLimit(colour(o)) are live.
//
// Tap sets (every kernel, every version): the region (nn.Region: the seed's causal K x K, the
// gated stacks' 1 x K row, rows above, rows above and the centre row, the unmasked 1 x 1) and
// the dilation come in as CONV_PARAMS' region and dil. Every region's fully live taps are a
// prefix of the kernel's raster order followed, for causal and row, by the colour-ruled
// centre, and every kernel here walks taps by index through tap_offset (common.cuh), so the
// generalisation only changes where a tap reads and how many taps there are (conv_kw): the
// summation order over kk, and so every bit of the seed's causal dil-1 results, is unchanged.
// kernels/hostsim/gated_sim.cpp runs versions 1-3 on every region and dilation 1, 2, 4. No kernel
// here reads a masked weight or iterates over a masked tap (taps after the centre are never
// visited at all; partially masked centre blocks are zero-filled in shared memory instead of
// read, and whole dead tiles/chunks are skipped). A version 2 tile whose columns span two
// colour groups does read the centre inputs of the later group for every column, and
// multiplies them by those zero-filled weights: for finite inputs that adds exactly 0, so
// outputs are bit-for-bit independent of inputs they must not see (causality holds bitwise);
// an Inf or NaN there would leak into the earlier group's outputs.
//
// Versions:
//   forward  version 1 (maskedconv_forward_v1): one thread per output (m, o), a plain loop over
//            its live rows. The readable baseline.
//   at       version 1 (maskedconv_at_v1): the forward at one position (i, j) of every image,
//            for the cached sampler; one thread per (image, o), bitwise equal to the forward.
//   forward  version 2 (maskedconv_forward_v2): implicit GEMM, M = N*H*W positions x N = out,
//            inner = live rows; 64x64 block tiles, 16-deep K chunks staged in shared memory,
//            256 threads with a 4x4 register block each. Bias + ReLU in the epilogue. Each
//            output is the same sequential fmaf chain over kk as version 1.
//   dX       version 1 (maskedconv_backward_dx_v1): one thread per input (p, ci), gathering
//            dz from every output position that read it. No atomics.
//   dX       version 2 (maskedconv_backward_dx_v2): the same gather as a tiled GEMM,
//            dX[p, ci] += sum over (tap t, o) dz[p - off(t), o] * W[t*in+ci, o]; one owner
//            thread per dX entry, so no atomics and a fixed summation order.
//   dW       version 1 (maskedconv_backward_dw_v1): one thread per live weight, a sequential
//            sum over all N*H*W positions (deterministic, slow).
//   dW       version 2 (maskedconv_backward_dw_v2 + maskedconv_reduce_dw): the M = N*H*W
//            reduction is split into fixed slices (the host picks the slice length from the
//            shapes alone); block (tile, slice) writes its tile of im2col^T x dz to
//            partial[slice], and maskedconv_reduce_dw adds the slices into dW in slice order.
//            Deterministic: no atomics, the order depends only on the shapes.
//   dB       version 1 (bias_backward_v1): one thread per output feature, sequential sum.
//   dB       version 2 (bias_backward_partial + reduce_partials_add): per-slice partial sums
//            (coalesced across features), then a fixed-order sum of the slices.
//   forward  version 3 (maskedconv_forward_v3): version 2's implicit GEMM on TF32 tensor cores
//            (mma.sync m16n8k8, FP32 accumulation, both operands rounded by cvt.rna.tf32 =
//            nn.RoundTF32); 128x64 block tiles, 16-deep K chunks in a 3-stage cp.async
//            pipeline, 128 threads = 4 warps of 64x32. Bias + ReLU in the epilogue.
//   dX       version 3 (maskedconv_backward_dx_v3): version 2's gather GEMM on tensor cores,
//            reading dz = relu_mask_v3(dy, y); live taps and centre outputs only.
//   dW       version 3 (maskedconv_backward_dw_v3 + maskedconv_reduce_dw): version 2's fixed
//            slices on tensor cores, reading dz; the same slice-order reduction.
//   dB       version 3: bias_partial_v3 (with a ReLU and dX/dW wanted, relu_mask_bias_v3,
//            which also writes dz) + reduce_bias_v3: about 64K threads of slices, then a
//            warp per output reducing its slices in a fixed order.
//
// Every forward kernel takes res and sum (nullable): with sum, the epilogue also writes
// sum = res + y (nn.ResidualConv: a block's last conv and its residual add in one pass).
// Every dX kernel takes accumulate: 1 adds into dx (the Backend contract), 0 writes 0 + the
// sum without reading dx (nn.FreshGradConv: a fresh gradient needs no clearing first).
//
// Versions 1 and 2 apply the fused ReLU's mask inside each backward kernel: dz = dy * (y > 0)
// when relu. Version 3 masks once (relu_mask_v3, or relu_mask_bias_v3 with dB's partial sums
// in the same pass) into a buffer both GEMMs read, so that their loads are plain
// asynchronous copies.
//
// ptxas -arch=sm_90 -v (make ptx-check, CUDA 11.8), no spills anywhere:
//   maskedconv_forward_v3      153 registers, 44544 bytes smem
//   maskedconv_backward_dx_v3  149 registers, 46080 bytes smem
//   maskedconv_backward_dw_v3  143 registers, 39936 bytes smem
// (153 / 151 / 142 before the regions and dilation; the "134" written here then was stale.)
//   relu_mask_v3                12 registers
// (__launch_bounds__(128, 3): at most 170 registers, 3 blocks = 12 warps per SM.)
// kernels/hostsim/maskedconv_v3_sim.cpp runs the version 3 kernels on the CPU (threads for
// the block, an emulated warp mma and cp.async) against float64 references.
#include "common.cuh"

// ---------------------------------------------------------------------------------------------
// version 1: naive

extern "C" __global__ void maskedconv_forward_v1(float* __restrict__ y, const float* __restrict__ x,
                                                 const float* __restrict__ wt,
                                                 const float* __restrict__ bias, CONV_PARAMS,
                                                 const float* __restrict__ res, float* __restrict__ sum) {
    CONV_GEOM;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    int total = conv_positions(g) * g.out;
    if (idx >= total) return;
    int m = idx / g.out, o = idx - m * g.out;
    int rows = live_rows(g, o);
    float acc = 0.0f;
    for (int kk = 0; kk < rows; kk++) acc = fmaf(im2col_load(x, g, m, kk), wt[kk * g.out + o], acc);
    if (bias) acc += bias[o];
    if (g.relu) acc = fmaxf(acc, 0.0f);
    y[idx] = acc;
    if (sum) sum[idx] = res[idx] + acc;
}

// At one position (i, j) of every image: y [n,1,1,out]. One thread per (image, o), the same
// fmaf chain over kk = 0, 1, ... as both forward versions (version 2's extra zero-weight
// terms add exactly 0), so the values equal MaskedConv's at (i, j) bit for bit.
extern "C" __global__ void maskedconv_at_v1(float* __restrict__ y, const float* __restrict__ x,
                                            const float* __restrict__ wt, const float* __restrict__ bias,
                                            CONV_PARAMS, int i, int j) {
    CONV_GEOM;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= g.n * g.out) return;
    int img = idx / g.out, o = idx - img * g.out;
    int m = (img * g.h + i) * g.w + j;
    int rows = live_rows(g, o);
    float acc = 0.0f;
    for (int kk = 0; kk < rows; kk++) acc = fmaf(im2col_load(x, g, m, kk), wt[kk * g.out + o], acc);
    if (bias) acc += bias[o];
    if (g.relu) acc = fmaxf(acc, 0.0f);
    y[idx] = acc;
}

// dx_base is what a dX kernel adds its sum to: dx[i] (accumulate, the Backend contract), or
// 0 for a fresh gradient that holds garbage (MaskedConvBackwardFresh). 0 + v, not v: the
// result is bit for bit that of clearing dx first and accumulating (-0 becomes +0 alike).
__device__ __forceinline__ float dx_base(const float* dx, int i, int accumulate) {
    return accumulate ? dx[i] : 0.0f;
}

extern "C" __global__ void maskedconv_backward_dx_v1(float* __restrict__ dx, const float* __restrict__ dy,
                                                     const float* __restrict__ y,
                                                     const float* __restrict__ wt, CONV_PARAMS,
                                                     int accumulate) {
    CONV_GEOM;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    int total = conv_positions(g) * g.in;
    if (idx >= total) return;
    int p = idx / g.in, ci = idx - p * g.in;
    float acc = 0.0f;
    for (int t = 0; t < g.taps + g.has_centre; t++) {
        int ddy, ddx;
        tap_offset(g, t, ddy, ddx);
        // Output position q read input p through tap t iff q + off(t) = p.
        int q = shift_pos(g, p, -ddy, -ddx);
        if (q < 0) continue;
        int o_begin = t < g.taps ? 0 : first_live_out(g, ci);
        const float* wrow = wt + (t * g.in + ci) * g.out;
        for (int o = o_begin; o < g.out; o++)
            acc += relu_grad(dy, y, g.relu, q * g.out + o) * wrow[o];
    }
    dx[idx] = dx_base(dx, idx, accumulate) + acc;
}

extern "C" __global__ void maskedconv_backward_dw_v1(float* __restrict__ dw, const float* __restrict__ dy,
                                                     const float* __restrict__ y,
                                                     const float* __restrict__ x, CONV_PARAMS) {
    CONV_GEOM;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    int kw = conv_kw(g);
    if (idx >= kw * g.out) return;
    int kk = idx / g.out, o = idx - kk * g.out;
    if (kk >= live_rows(g, o)) return;  // masked weight: never written
    int M = conv_positions(g);
    float acc = 0.0f;
    for (int m = 0; m < M; m++) acc += im2col_load(x, g, m, kk) * relu_grad(dy, y, g.relu, m * g.out + o);
    dw[idx] += acc;
}

extern "C" __global__ void bias_backward_v1(float* __restrict__ db, const float* __restrict__ dy,
                                            const float* __restrict__ y, int relu, int M, int out) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    float acc = 0.0f;
    for (int m = 0; m < M; m++) acc += relu_grad(dy, y, relu, m * out + o);
    db[o] += acc;
}

// ---------------------------------------------------------------------------------------------
// version 2: shared-memory tiled implicit GEMM

#define TILE_M 64
#define TILE_N 64
#define TILE_K 16
#define TILE_PAD 4
#define TILE_THREADS 256  // 16 x 16 threads, each a 4 x 4 register block

// Shared tiles are stored k-major: As[k][row], Bs[k][col], so the inner product reads a row of
// each per k step. The +4 pad keeps rows 16-byte aligned and halves store bank conflicts.
struct GemmTiles {
    float a[TILE_K][TILE_M + TILE_PAD];
    float b[TILE_K][TILE_N + TILE_PAD];
};

// tile_mac accumulates one staged K chunk into the thread's 4x4 block: rows ty*4+i, cols tx*4+j.
__device__ __forceinline__ void tile_mac(const GemmTiles& s, float acc[4][4], int ty, int tx) {
#pragma unroll
    for (int kk = 0; kk < TILE_K; kk++) {
        float a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; i++) a[i] = s.a[kk][ty * 4 + i];
#pragma unroll
        for (int j = 0; j < 4; j++) b[j] = s.b[kk][tx * 4 + j];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
}

// Forward: grid (ceil(M/64), ceil(out/64)), block 256.
// C[m, o] = sum_kk im2col(m, kk) * W[kk, o] over kk < live_rows(o).
extern "C" __global__ void __launch_bounds__(TILE_THREADS)
maskedconv_forward_v2(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt,
                      const float* __restrict__ bias, CONV_PARAMS, const float* __restrict__ res,
                      float* __restrict__ sum) {
    CONV_GEOM;
    __shared__ GemmTiles s;
    const int M = conv_positions(g);
    const int m0 = blockIdx.x * TILE_M, o0 = blockIdx.y * TILE_N;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    // live_rows is non-decreasing in o, so the tile's last column bounds its inner dimension.
    const int kend = live_rows(g, min(o0 + TILE_N, g.out) - 1);

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    // A tile loads: this thread always loads inner offset a_kl of positions a_ml + 16r, so the
    // positions' (h, w) are decoded once here, and the tap once per chunk.
    const int a_kl = tid % TILE_K, a_ml = tid / TILE_K;
    int a_h[4], a_w[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int m = m0 + a_ml + 16 * r;
        a_w[r] = m % g.w;
        a_h[r] = (m / g.w) % g.h;
    }

    for (int k0 = 0; k0 < kend; k0 += TILE_K) {
        // A: 64 positions x 16 rows; consecutive threads walk kk (contiguous features of a tap).
        {
            int kk = k0 + a_kl;
            int t = kk / g.in, ci = kk - t * g.in;
            int ddy, ddx;
            tap_offset(g, t, ddy, ddx);
#pragma unroll
            for (int r = 0; r < 4; r++) {
                int ml = a_ml + 16 * r, m = m0 + ml;
                int hh = a_h[r] + ddy, ww = a_w[r] + ddx;
                bool in_img = hh >= 0 && hh < g.h && ww >= 0 && ww < g.w;
                s.a[a_kl][ml] = (m < M && kk < kend && in_img) ? x[(m + ddy * g.w + ddx) * g.in + ci] : 0.0f;
            }
        }
        // B: 16 rows x 64 outputs; consecutive threads walk o. Masked entries become 0 here.
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int e = tid + r * TILE_THREADS;
            int ol = e % TILE_N, kl = e / TILE_N;
            int o = o0 + ol, kk = k0 + kl;
            s.b[kl][ol] = (o < g.out && kk < live_rows(g, o)) ? wt[kk * g.out + o] : 0.0f;
        }
        __syncthreads();
        tile_mac(s, acc, ty, tx);
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = m0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int o = o0 + tx * 4 + j;
            if (o >= g.out) continue;
            float v = acc[i][j];
            if (bias) v += bias[o];
            if (g.relu) v = fmaxf(v, 0.0f);
            y[m * g.out + o] = v;
            if (sum) sum[m * g.out + o] = res[m * g.out + o] + v;
        }
    }
}

// dX: grid (ceil(M/64), ceil(in/64)), block 256. Inner index k2 = t*out + o over the live taps
// t < taps + has_centre.
// A[p, k2] = dz[p - off(t), o]; B[k2, ci] = W[t*in + ci, o] when live. dx += C (dx = 0 + C
// without accumulate).
extern "C" __global__ void __launch_bounds__(TILE_THREADS)
maskedconv_backward_dx_v2(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ y,
                          const float* __restrict__ wt, CONV_PARAMS, int accumulate) {
    CONV_GEOM;
    __shared__ GemmTiles s;
    const int M = conv_positions(g);
    const int p0 = blockIdx.x * TILE_M, c0 = blockIdx.y * TILE_N;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int kcentre = g.taps * g.out;          // first inner index of the centre tap
    const int kend = kcentre + g.has_centre * g.out;
    // first_live_out is non-decreasing in ci: the tile's first input has the longest centre
    // range, so centre outputs before it are dead for the whole tile and are skipped.
    const int centre_skip_to = kcentre + first_live_out(g, c0);

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < kend;) {
        // A: 64 positions x 16 inner; consecutive threads walk o (contiguous in dz).
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int e = tid + r * TILE_THREADS;
            int kl = e % TILE_K, pl = e / TILE_K;
            int p = p0 + pl, k2 = k0 + kl;
            float v = 0.0f;
            if (p < M && k2 < kend) {
                int t = k2 / g.out, o = k2 - t * g.out;
                int ddy, ddx;
                tap_offset(g, t, ddy, ddx);
                int q = shift_pos(g, p, -ddy, -ddx);
                if (q >= 0) v = relu_grad(dy, y, g.relu, q * g.out + o);
            }
            s.a[kl][pl] = v;
        }
        // B: 16 inner x 64 inputs; consecutive threads walk o (contiguous in W's rows).
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int e = tid + r * TILE_THREADS;
            int kl = e % TILE_K, cl = e / TILE_K;
            int ci = c0 + cl, k2 = k0 + kl;
            float v = 0.0f;
            if (ci < g.in && k2 < kend) {
                int t = k2 / g.out, o = k2 - t * g.out;
                int kk = t * g.in + ci;
                if (kk < live_rows(g, o)) v = wt[kk * g.out + o];
            }
            s.b[kl][cl] = v;
        }
        __syncthreads();
        tile_mac(s, acc, ty, tx);
        __syncthreads();
        k0 += TILE_K;
        if (k0 >= kcentre && k0 < centre_skip_to) k0 = centre_skip_to;
    }

#pragma unroll
    for (int i = 0; i < 4; i++) {
        int p = p0 + ty * 4 + i;
        if (p >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int ci = c0 + tx * 4 + j;
            if (ci < g.in) dx[p * g.in + ci] = dx_base(dx, p * g.in + ci, accumulate) + acc[i][j];
        }
    }
}

// dW partials: grid (ceil(kw/64), ceil(out/64), slices), block 256, kw = conv_kw(g).
// partial[s, kk, o] = sum over m in slice s of im2col(m, kk) * dz[m, o]. Tiles with no live
// weight return at once (their partial entries are never read).
extern "C" __global__ void __launch_bounds__(TILE_THREADS)
maskedconv_backward_dw_v2(float* __restrict__ partial, const float* __restrict__ dy,
                          const float* __restrict__ y, const float* __restrict__ x, CONV_PARAMS,
                          int slice_len) {
    CONV_GEOM;
    __shared__ GemmTiles s;
    const int M = conv_positions(g);
    const int kw = conv_kw(g);
    const int r0 = blockIdx.x * TILE_M, o0 = blockIdx.y * TILE_N;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    if (r0 >= live_rows(g, min(o0 + TILE_N, g.out) - 1)) return;  // whole tile masked
    const int mbeg = blockIdx.z * slice_len;
    const int mend = min(M, mbeg + slice_len);

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    // A tile loads: this thread always loads row a_rl (a fixed tap and feature) of positions
    // k0 + a_ml + 4r, so the tap is decoded once here.
    const int a_rl = tid % TILE_M, a_ml = tid / TILE_M;
    const int a_kk = r0 + a_rl;
    int a_t = a_kk / g.in;
    const int a_ci = a_kk - a_t * g.in;
    int a_dy, a_dx;
    tap_offset(g, a_t, a_dy, a_dx);

    for (int k0 = mbeg; k0 < mend; k0 += TILE_K) {
        // A (transposed im2col): 16 positions x 64 rows; consecutive threads walk kk.
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int ml = a_ml + 4 * r, m = k0 + ml;
            float v = 0.0f;
            if (a_kk < kw && m < mend) {
                int q = shift_pos(g, m, a_dy, a_dx);
                if (q >= 0) v = x[q * g.in + a_ci];
            }
            s.a[ml][a_rl] = v;
        }
        // B: 16 positions x 64 outputs of dz; consecutive threads walk o.
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int e = tid + r * TILE_THREADS;
            int ol = e % TILE_N, ml = e / TILE_N;
            int o = o0 + ol, m = k0 + ml;
            s.b[ml][ol] = (o < g.out && m < mend) ? relu_grad(dy, y, g.relu, m * g.out + o) : 0.0f;
        }
        __syncthreads();
        tile_mac(s, acc, ty, tx);
        __syncthreads();
    }

    float* part = partial + (size_t)blockIdx.z * kw * g.out;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int kk = r0 + ty * 4 + i;
        if (kk >= kw) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int o = o0 + tx * 4 + j;
            if (o < g.out) part[kk * g.out + o] = acc[i][j];
        }
    }
}

// dW reduction: one thread per (kk, o) of the [kw, out] live matrix; live entries only get
// dw += sum of the slices in slice order.
extern "C" __global__ void maskedconv_reduce_dw(float* __restrict__ dw, const float* __restrict__ partial,
                                                int slices, CONV_PARAMS) {
    CONV_GEOM;
    const int kw = conv_kw(g);
    const int total = kw * g.out;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int kk = idx / g.out, o = idx - kk * g.out;
    if (kk >= live_rows(g, o)) return;
    float acc = 0.0f;
    for (int sl = 0; sl < slices; sl++) acc += partial[(size_t)sl * total + idx];
    dw[idx] += acc;
}

// dB partials: grid (ceil(out/256), slices), block 256. partial[s, o] = sum over m in slice s
// of dz[m, o], summed sequentially (consecutive threads read consecutive o: coalesced).
extern "C" __global__ void bias_backward_partial(float* __restrict__ partial, const float* __restrict__ dy,
                                                 const float* __restrict__ y, int relu, int M, int out,
                                                 int slice_len) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    int mbeg = blockIdx.y * slice_len, mend = min(M, mbeg + slice_len);
    float acc = 0.0f;
    for (int m = mbeg; m < mend; m++) acc += relu_grad(dy, y, relu, m * out + o);
    partial[(size_t)blockIdx.y * out + o] = acc;
}

// reduce_partials_add: dst[i] += sum over s in order of partial[s, i], i < n.
extern "C" __global__ void reduce_partials_add(float* __restrict__ dst, const float* __restrict__ partial,
                                               int slices, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float acc = 0.0f;
    for (int sl = 0; sl < slices; sl++) acc += partial[(size_t)sl * n + i];
    dst[i] += acc;
}

// ---------------------------------------------------------------------------------------------
// version 3: TF32 tensor cores (mma.sync m16n8k8, FP32 accumulation), cp.async pipeline
//
// Block tile V3_BM x V3_BN = 128 x 64 outputs, K chunks of V3_BK = 16, V3_STAGES = 3 chunks in
// flight in shared memory, 128 threads = 4 warps in a 2 (M) x 2 (N) grid, each warp a 64 x 32
// tile = 4 x 4 mma tiles of 16 x 8 (64 FP32 accumulators per thread). 64 columns suit the
// cifar10 preset's 192/384/768 features (no ragged column tile) and keep three stages within
// the 48 KB of static shared memory (the backend launches with no dynamic shared memory).
//
// Shared layout: padding, not a swizzle. Each operand keeps its global contiguous axis, so
// every cp.async writes 16 contiguous bytes; the row pitch is padded so that a warp's fragment
// reads hit 32 distinct banks:
//   [rows][V3_BK + 4] (k contiguous; A of forward and dX, B of dX): the 8 groupIDs x 4 tigs of
//       one fragment register read bank (20*groupID + tig) % 32 = {0,20,8,28,16,4,24,12} + tig:
//       32 distinct banks.
//   [V3_BK][cols + 8] (rows/cols contiguous; A of dW, B of forward and dW): the read is
//       (k = tig, col = groupID): bank (8*tig + groupID) % 32 (pitch 136 or 72 = 8 mod 32):
//       32 distinct banks.
// Both pitches are multiples of 4 floats, so every 16-byte cp.async destination is aligned.
//
// Pipeline (per thread; cp.async groups are per thread, the barrier makes them block-wide):
//   prologue: load chunks 0 and 1, one commit group each (an empty group past the end).
//   iteration kt: wait_group(STAGES-2 = 1) => groups 0..kt are complete (2 + kt committed
//   before it), so chunk kt has landed for this thread; __syncthreads => for every thread,
//   and every thread has finished the mma of chunk kt-1; only then is chunk kt+2 loaded into
//   stage (kt+2) % 3 = (kt-1) % 3, the stage just released; commit; mma on stage kt % 3.
//
// Loads are predicated: an operand element outside the image ("same" padding), past the
// positions, past the live rows, past the features or masked is zero-filled by cp.async with
// src-size 0 (nothing is read from global memory; the source address passed is the tensor's
// base). A masked weight is never read: a 16-byte weight copy is issued only when its four
// entries are all live (or all dead: zero-fill), mixed quads fall back to 4-byte copies.
// The 16-byte path needs the contiguous dimension to be a multiple of 4 and the tensors
// 16-byte aligned (the host passes vec = 1 when every pointer is); otherwise every element
// goes through 4-byte copies (the 1- and 3-channel input conv).

#define V3_BM 128
#define V3_BN 64
#define V3_BK 16
#define V3_STAGES 3
#define V3_THREADS 128
#define V3_PITCH_K (V3_BK + 4)          // [rows][k] tiles
#define V3_PITCH_M (V3_BM + 8)          // [k][BM rows] tile
#define V3_PITCH_N (V3_BN + 8)          // [k][BN cols] tile
#define V3_A_MK (V3_BM * V3_PITCH_K)    // A as [m][k]: 2560 floats
#define V3_A_KM (V3_BK * V3_PITCH_M)    // A as [k][m]: 2176 floats
#define V3_B_KN (V3_BK * V3_PITCH_N)    // B as [k][n]: 1152 floats
#define V3_B_NK (V3_BN * V3_PITCH_K)    // B as [n][k]: 1280 floats

// v3_chunk_mma multiplies one staged 16-deep chunk into the warp's 64 x 32 accumulator tile.
// A_KM: A is stored [k][m] (else [m][k]); B_NK: B is stored [n][k] (else [k][n]). Both
// operands are rounded with cvt.rna.tf32 as they are read, once per fragment element.
// Fragment indices (see mma_tf32): for m tile mi, rows r = wm*64 + mi*16 + groupID (+8);
// for k step ks, columns c = ks + tig (+4); for n tile ni, column n = wn*32 + ni*8 + groupID.
template <bool A_KM, bool B_NK>
__device__ __forceinline__ void v3_chunk_mma(const float* __restrict__ as, const float* __restrict__ bs,
                                             float acc[4][4][4], int wm, int wn, int gid, int tig) {
#pragma unroll
    for (int ks = 0; ks < V3_BK; ks += 8) {
        unsigned a[4][4], b[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; mi++) {
            const int r = wm * 64 + mi * 16 + gid, c = ks + tig;
#define V3_A(rr, cc) (A_KM ? as[(cc) * V3_PITCH_M + (rr)] : as[(rr) * V3_PITCH_K + (cc)])
            a[mi][0] = to_tf32(V3_A(r, c));
            a[mi][1] = to_tf32(V3_A(r + 8, c));
            a[mi][2] = to_tf32(V3_A(r, c + 4));
            a[mi][3] = to_tf32(V3_A(r + 8, c + 4));
#undef V3_A
        }
#pragma unroll
        for (int ni = 0; ni < 4; ni++) {
            const int n = wn * 32 + ni * 8 + gid, k = ks + tig;
#define V3_B(kk, nn) (B_NK ? bs[(nn) * V3_PITCH_K + (kk)] : bs[(kk) * V3_PITCH_N + (nn)])
            b[ni][0] = to_tf32(V3_B(k, n));
            b[ni][1] = to_tf32(V3_B(k + 4, n));
#undef V3_B
        }
#pragma unroll
        for (int mi = 0; mi < 4; mi++)
#pragma unroll
            for (int ni = 0; ni < 4; ni++) mma_tf32(acc[mi][ni], a[mi], b[ni]);
    }
}

// v3_mainloop runs the cp.async pipeline over ktiles chunks; load(stage, kt) issues the
// cp.async copies of chunk kt into stage (A at stage[0], B at stage[a_floats]), without
// committing. smem holds V3_STAGES stages of a_floats + b_floats floats.
template <bool A_KM, bool B_NK, typename Loader>
__device__ __forceinline__ void v3_mainloop(float* smem, int ktiles, const Loader& load, float acc[4][4][4]) {
    constexpr int a_floats = A_KM ? V3_A_KM : V3_A_MK;
    constexpr int stage_floats = a_floats + (B_NK ? V3_B_NK : V3_B_KN);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int wm = warp & 1, wn = warp >> 1, gid = lane >> 2, tig = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[i][j][q] = 0.0f;

#pragma unroll
    for (int s = 0; s < V3_STAGES - 1; s++) {
        if (s < ktiles) load(smem + s * stage_floats, s);
        cp_async_commit();
    }
    for (int kt = 0; kt < ktiles; kt++) {
        cp_async_wait<V3_STAGES - 2>();
        __syncthreads();
        const int next = kt + V3_STAGES - 1;
        if (next < ktiles) load(smem + (next % V3_STAGES) * stage_floats, next);
        cp_async_commit();
        const float* st = smem + (kt % V3_STAGES) * stage_floats;
        v3_chunk_mma<A_KM, B_NK>(st, st + a_floats, acc, wm, wn, gid, tig);
    }
    cp_async_wait<0>();  // only empty groups can be pending; leave none behind
}

// v3_for_each_pair calls f(row, col, v0, v1) for each pair of the thread's 64 accumulators:
// acc[mi][ni][q] is row wm*64 + mi*16 + groupID + 8*(q>>1), column wn*32 + ni*8 + 2*tig +
// (q&1) of the block tile (the C fragment layout of mma_tf32), so v0 = q even and v1 = q+1
// are the adjacent columns col and col+1 (col even).
template <typename F>
__device__ __forceinline__ void v3_for_each_pair(const float acc[4][4][4], const F& f) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int wm = warp & 1, wn = warp >> 1, gid = lane >> 2, tig = lane & 3;
#pragma unroll
    for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                f(wm * 64 + mi * 16 + gid + 8 * h, wn * 32 + ni * 8 + 2 * tig, acc[mi][ni][2 * h],
                  acc[mi][ni][2 * h + 1]);
}

// Forward: grid (ceil(M/128), ceil(out/64)), block 128. y = act(im2col(x) W + b) over the
// live rows, as version 2. A chunk [128 positions][16 rows kk] from x, B chunk [16 rows][64
// outputs] from W; the chunks run over kk < kend = live_rows(the tile's last output).
extern "C" __global__ void __launch_bounds__(V3_THREADS, 3)
maskedconv_forward_v3(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt,
                      const float* __restrict__ bias, CONV_PARAMS, int vec, const float* __restrict__ res,
                      float* __restrict__ sum) {
    CONV_GEOM;
    __shared__ __align__(16) float smem[V3_STAGES * (V3_A_MK + V3_B_KN)];
    const int M = conv_positions(g);
    const int m0 = blockIdx.x * V3_BM, o0 = blockIdx.y * V3_BN;
    const int tid = threadIdx.x;
    const int kend = live_rows(g, min(o0 + V3_BN, g.out) - 1);
    const bool xvec = vec && g.in % 4 == 0, wvec = vec && g.out % 4 == 0;

    // A copies: quad a_kq..a_kq+3 of the chunk's 16 rows, for positions a_row + 32r (r < 4).
    // A position past M gets a row far outside the image (a_h), so that the bounds test of the
    // 16-byte path refuses it without testing m; a_off is the position's offset in x.
    const int a_kq = (tid & 3) * 4, a_row = tid >> 2;
    int a_h[4], a_w[4], a_off[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const int m = m0 + a_row + 32 * r;
        a_w[r] = m % g.w;
        a_h[r] = m < M ? (m / g.w) % g.h : -(1 << 29);
        a_off[r] = m * g.in;
    }
    // The quad's tap a_t, feature a_ci and tap offset (a_dy, a_dx) at chunk a_kt, carried from
    // chunk to chunk (v3_mainloop loads chunks 0, 1, 2, ... in order; each is V3_BK rows on)
    // instead of dividing by in and k at every chunk. The loads were half of the main loop's
    // instructions: SASS for sm_90, one iteration (32 HMMA) on the 16-byte path, 391
    // instructions of which 203 were the loads' index arithmetic and copies; now 339 and 143.
    int a_t = a_kq / g.in, a_ci = a_kq - a_t * g.in, a_dy, a_dx, a_kt = 0;
    tap_offset(g, a_t, a_dy, a_dx);
    // B copies: outputs b_nq..b_nq+3 of rows b_row + 8r (r < 2); lr[j] is output b_nq+j's
    // live row count (0 past the features: never loaded).
    const int b_nq = (tid & 15) * 4, b_row = tid >> 4;
    int lr[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int o = o0 + b_nq + j;
        lr[j] = o < g.out ? live_rows(g, o) : 0;
    }

    auto load = [&](float* st, int kt) {
        float* as = st;
        float* bs = st + V3_A_MK;
        const int k0 = kt * V3_BK;
        const int kq = k0 + a_kq;
        for (; a_kt < kt; a_kt++) {  // one chunk on: V3_BK rows, past as many taps as it crosses
            a_ci += V3_BK;
            while (a_ci >= g.in) {  // the next kernel position in raster order (tap_offset)
                a_ci -= g.in;
                a_t++;
                a_dx += g.dil;
                if (a_dx > g.k / 2 * g.dil) {
                    a_dx = -(g.k / 2) * g.dil;
                    a_dy += g.dil;
                }
            }
        }
        if (xvec && kq + 3 < kend) {
            // in % 4 == 0 and kq % 4 == 0: the quad is 4 features of one tap, at a_off[r] +
            // tap_ci in x for position r (the shifted pixel's offset, plus the feature).
            const int tap_ci = (a_dy * g.w + a_dx) * g.in + a_ci;
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const bool ok = (unsigned)(a_h[r] + a_dy) < (unsigned)g.h && (unsigned)(a_w[r] + a_dx) < (unsigned)g.w;
                cp_async16(as + (a_row + 32 * r) * V3_PITCH_K + a_kq, ok ? x + (a_off[r] + tap_ci) : x, ok);
            }
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int kk = kq + e;
                const int t = kk / g.in, ci = kk - t * g.in;
                int ddy, ddx;
                tap_offset(g, t, ddy, ddx);
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    const int ml = a_row + 32 * r, m = m0 + ml;
                    const int hh = a_h[r] + ddy, ww = a_w[r] + ddx;
                    const bool ok = kk < kend && m < M && hh >= 0 && hh < g.h && ww >= 0 && ww < g.w;
                    cp_async4(as + ml * V3_PITCH_K + a_kq + e, ok ? x + (m + ddy * g.w + ddx) * g.in + ci : x, ok);
                }
            }
        }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int kl = b_row + 8 * r, kk = k0 + kl, o = o0 + b_nq;
            float* dst = bs + kl * V3_PITCH_N + b_nq;
            // live_rows is non-decreasing in o: the quad is all live iff its first output's
            // row is live, all dead iff its last one's is dead (lr = 0 past the features; on
            // the 16-byte path out % 4 == 0, so a quad is wholly inside or past them).
            const bool all_live = kk < lr[0], all_dead = kk >= lr[3];
            if (wvec && (all_live || all_dead)) {
                cp_async16(dst, all_live ? wt + kk * g.out + o : wt, all_live);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const bool ok = kk < lr[j];
                    cp_async4(dst + j, ok ? wt + kk * g.out + o + j : wt, ok);
                }
            }
        }
    };

    float acc[4][4][4];
    v3_mainloop<false, false>(smem, (kend + V3_BK - 1) / V3_BK, load, acc);

    const bool pair_store = vec && g.out % 2 == 0;
    v3_for_each_pair(acc, [&](int rl, int cl, float v0, float v1) {
        const int m = m0 + rl, o = o0 + cl;
        if (m >= M || o >= g.out) return;
        if (bias) v0 += bias[o];
        if (g.relu) v0 = fmaxf(v0, 0.0f);
        if (o + 1 < g.out) {
            if (bias) v1 += bias[o + 1];
            if (g.relu) v1 = fmaxf(v1, 0.0f);
        }
        float* dst = y + m * g.out + o;
        if (pair_store) {
            *reinterpret_cast<float2*>(dst) = make_float2(v0, v1);
        } else {
            dst[0] = v0;
            if (o + 1 < g.out) dst[1] = v1;
        }
        if (!sum) return;
        const float* r = res + m * g.out + o;
        float* s = sum + m * g.out + o;
        if (pair_store) {
            const float2 rv = *reinterpret_cast<const float2*>(r);
            *reinterpret_cast<float2*>(s) = make_float2(rv.x + v0, rv.y + v1);
        } else {
            s[0] = r[0] + v0;
            if (o + 1 < g.out) s[1] = r[1] + v1;
        }
    });
}

// dX: grid (ceil(M/128), ceil(in/64)), block 128. dx[p, ci] += sum over k2 = t*out + o of
// dz[p - off(t), o] * W[t*in + ci, o] (live entries only), as version 2. dz is the
// ReLU-masked upstream gradient (relu_mask_v3), so this kernel has no ReLU logic. A chunk
// [128 positions][16 k2] from dz ([m][k]), B chunk [64 inputs][16 k2] from W ([n][k]: W's
// rows are contiguous in o). The chunks cover k2 in [0, kcentre) and then the centre from
// the first output the tile's first input feeds (earlier centre outputs are dead for the
// whole tile: first_live_out is non-decreasing in ci), rounded down to a chunk boundary so
// that 16-byte copies stay aligned; entries inside a chunk are still checked one by one.
extern "C" __global__ void __launch_bounds__(V3_THREADS, 3)
maskedconv_backward_dx_v3(float* __restrict__ dx, const float* __restrict__ dz, const float* __restrict__ wt,
                          CONV_PARAMS, int vec, int accumulate) {
    CONV_GEOM;
    __shared__ __align__(16) float smem[V3_STAGES * (V3_A_MK + V3_B_NK)];
    const int M = conv_positions(g);
    const int p0 = blockIdx.x * V3_BM, c0 = blockIdx.y * V3_BN;
    const int tid = threadIdx.x;
    const int kcentre = g.taps * g.out, kend = kcentre + g.has_centre * g.out;
    const int head_tiles = (kcentre + V3_BK - 1) / V3_BK;
    const int centre_from = max(head_tiles * V3_BK, (kcentre + first_live_out(g, c0)) / V3_BK * V3_BK);
    const int ktiles = head_tiles + (centre_from < kend ? (kend - centre_from + V3_BK - 1) / V3_BK : 0);
    const bool ovec = vec && g.out % 4 == 0;

    // A copies: k2 quad a_kq..a_kq+3 of the chunk, positions a_row + 32r (r < 4).
    const int a_kq = (tid & 3) * 4, a_row = tid >> 2;
    int a_h[4], a_w[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const int p = p0 + a_row + 32 * r;
        a_w[r] = p % g.w;
        a_h[r] = (p / g.w) % g.h;
    }
    // B copies: k2 quad b_kq..b_kq+3 for input features b_col + 32r (r < 2); flo[r] is the
    // first output whose centre reads that feature (g.out past the features: nothing live).
    const int b_kq = (tid & 3) * 4, b_col = tid >> 2;
    int flo[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int ci = c0 + b_col + 32 * r;
        flo[r] = ci < g.in ? first_live_out(g, ci) : g.out;
    }

    auto load = [&](float* st, int kt) {
        float* as = st;
        float* bs = st + V3_A_MK;
        const int k0 = kt < head_tiles ? kt * V3_BK : centre_from + (kt - head_tiles) * V3_BK;
        const int kq = k0 + a_kq;
        if (ovec) {
            // out % 4 == 0 and kq % 4 == 0: the quad is 4 outputs of one tap, or wholly past
            // kend = (taps+has_centre)*out.
            const int t = kq / g.out, o = kq - t * g.out;
            int ddy, ddx;
            tap_offset(g, t, ddy, ddx);
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int pl = a_row + 32 * r, p = p0 + pl;
                // Output position q = p - off(t) read input p through tap t.
                const int hh = a_h[r] - ddy, ww = a_w[r] - ddx;
                const bool ok = kq < kend && p < M && hh >= 0 && hh < g.h && ww >= 0 && ww < g.w;
                cp_async16(as + pl * V3_PITCH_K + a_kq, ok ? dz + (p - ddy * g.w - ddx) * g.out + o : dz, ok);
            }
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int k2 = kq + e;
                const int t = k2 / g.out, o = k2 - t * g.out;
                int ddy, ddx;
                tap_offset(g, t, ddy, ddx);
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    const int pl = a_row + 32 * r, p = p0 + pl;
                    const int hh = a_h[r] - ddy, ww = a_w[r] - ddx;
                    const bool ok = k2 < kend && p < M && hh >= 0 && hh < g.h && ww >= 0 && ww < g.w;
                    cp_async4(as + pl * V3_PITCH_K + a_kq + e, ok ? dz + (p - ddy * g.w - ddx) * g.out + o : dz, ok);
                }
            }
        }
        const int bq = k0 + b_kq;
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int nl = b_col + 32 * r, ci = c0 + nl;
            float* dst = bs + nl * V3_PITCH_K + b_kq;
            // Entry (k2 = t*out + o, ci) is live iff ci < in, k2 < kend and (t < taps or
            // o >= flo): before the centre every entry is live, in it a suffix of o.
            if (ovec) {
                // The quad is 4 outputs o..o+3 of one tap t (or wholly past kend).
                const int t = bq / g.out, o = bq - t * g.out;
                const bool inside = ci < g.in && bq < kend;
                const bool all_live = inside && (t < g.taps || o >= flo[r]);
                const bool all_dead = !inside || (t == g.taps && o + 3 < flo[r]);
                if (all_live || all_dead) {
                    cp_async16(dst, all_live ? wt + (t * g.in + ci) * g.out + o : wt, all_live);
                    continue;
                }
            }
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int k2 = bq + e;
                const int t = k2 / g.out, o = k2 - t * g.out;
                const bool ok = ci < g.in && k2 < kend && (t < g.taps || o >= flo[r]);
                cp_async4(dst + e, ok ? wt + (t * g.in + ci) * g.out + o : wt, ok);
            }
        }
    };

    float acc[4][4][4];
    v3_mainloop<false, true>(smem, ktiles, load, acc);

    const bool pair_rmw = vec && g.in % 2 == 0;
    v3_for_each_pair(acc, [&](int rl, int cl, float v0, float v1) {
        const int p = p0 + rl, ci = c0 + cl;
        if (p >= M || ci >= g.in) return;
        float* dst = dx + p * g.in + ci;
        if (pair_rmw) {
            float2 d = accumulate ? *reinterpret_cast<float2*>(dst) : make_float2(0.0f, 0.0f);
            d.x += v0;
            d.y += v1;
            *reinterpret_cast<float2*>(dst) = d;
        } else {
            dst[0] = dx_base(dst, 0, accumulate) + v0;
            if (ci + 1 < g.in) dst[1] = dx_base(dst, 1, accumulate) + v1;
        }
    });
}

// dW partials: grid (ceil(kw/128), ceil(out/64), slices), block 128, kw = conv_kw(g).
// partial[s, kk, o] = sum over m in slice s of im2col(m, kk) * dz[m, o], every (kk < kw,
// o < out) of a tile written; maskedconv_reduce_dw then adds the live entries' slices in
// order, as version 2. The GEMM's inner dimension is the slice's positions: A chunk [16
// positions][128 rows kk] from x ([k][m]: a position's features are contiguous), B chunk
// [16 positions][64 outputs] from dz ([k][n]). Tiles with no live weight return at once.
extern "C" __global__ void __launch_bounds__(V3_THREADS, 3)
maskedconv_backward_dw_v3(float* __restrict__ partial, const float* __restrict__ dz, const float* __restrict__ x,
                          CONV_PARAMS, int slice_len, int vec) {
    CONV_GEOM;
    __shared__ __align__(16) float smem[V3_STAGES * (V3_A_KM + V3_B_KN)];
    const int M = conv_positions(g);
    const int kw = conv_kw(g);
    const int r0 = blockIdx.x * V3_BM, o0 = blockIdx.y * V3_BN;
    const int tid = threadIdx.x;
    if (r0 >= live_rows(g, min(o0 + V3_BN, g.out) - 1)) return;  // whole tile masked
    const int mbeg = blockIdx.z * slice_len;
    const int mend = min(M, mbeg + slice_len);
    const bool xvec = vec && g.in % 4 == 0, ovec = vec && g.out % 4 == 0;

    // A copies: rows a_rq..a_rq+3 (fixed taps and features: decoded once) of positions
    // a_pos + 4r (r < 4) of the chunk.
    const int a_rq = (tid & 31) * 4, a_pos = tid >> 5;
    int a_dy[4], a_dx[4], a_ci[4];
#pragma unroll
    for (int e = 0; e < 4; e++) {
        const int kk = r0 + a_rq + e;
        const int t = kk / g.in;
        a_ci[e] = kk - t * g.in;
        tap_offset(g, t, a_dy[e], a_dx[e]);
    }
    // B copies: outputs b_nq..b_nq+3 of positions b_pos + 8r (r < 2).
    const int b_nq = (tid & 15) * 4, b_pos = tid >> 4;

    auto load = [&](float* st, int kt) {
        float* as = st;
        float* bs = st + V3_A_KM;
        const int k0 = mbeg + kt * V3_BK;
        const int kk = r0 + a_rq;
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int ml = a_pos + 4 * r, m = k0 + ml;
            float* dst = as + ml * V3_PITCH_M + a_rq;
            const int wpos = m % g.w, hpos = (m / g.w) % g.h;
            if (xvec) {
                // in % 4 == 0 and kk % 4 == 0: the 4 rows are 4 features of one tap.
                const int hh = hpos + a_dy[0], ww = wpos + a_dx[0];
                const bool ok = kk < kw && m < mend && hh >= 0 && hh < g.h && ww >= 0 && ww < g.w;
                cp_async16(dst, ok ? x + (m + a_dy[0] * g.w + a_dx[0]) * g.in + a_ci[0] : x, ok);
            } else {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int hh = hpos + a_dy[e], ww = wpos + a_dx[e];
                    const bool ok = kk + e < kw && m < mend && hh >= 0 && hh < g.h && ww >= 0 && ww < g.w;
                    cp_async4(dst + e, ok ? x + (m + a_dy[e] * g.w + a_dx[e]) * g.in + a_ci[e] : x, ok);
                }
            }
        }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int ml = b_pos + 8 * r, m = k0 + ml, o = o0 + b_nq;
            float* dst = bs + ml * V3_PITCH_N + b_nq;
            if (ovec) {
                const bool ok = m < mend && o < g.out;
                cp_async16(dst, ok ? dz + m * g.out + o : dz, ok);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const bool ok = m < mend && o + j < g.out;
                    cp_async4(dst + j, ok ? dz + m * g.out + o + j : dz, ok);
                }
            }
        }
    };

    float acc[4][4][4];
    v3_mainloop<true, false>(smem, (mend - mbeg + V3_BK - 1) / V3_BK, load, acc);

    float* part = partial + (size_t)blockIdx.z * kw * g.out;
    const bool pair_store = vec && g.out % 2 == 0;
    v3_for_each_pair(acc, [&](int rl, int cl, float v0, float v1) {
        const int kk = r0 + rl, o = o0 + cl;
        if (kk >= kw || o >= g.out) return;
        float* dst = part + kk * g.out + o;
        if (pair_store) {
            *reinterpret_cast<float2*>(dst) = make_float2(v0, v1);
        } else {
            dst[0] = v0;
            if (o + 1 < g.out) dst[1] = v1;
        }
    });
}

// relu_mask_v3: dz[i] = dy[i] where y[i] > 0, else 0 (relu_grad), i < n; grid-stride. Version 3
// masks the upstream gradient once per backward and both GEMMs (dX, dW) read dz, so the
// tensor-core loads can copy it straight to shared memory.
extern "C" __global__ void relu_mask_v3(float* __restrict__ dz, const float* __restrict__ dy,
                                        const float* __restrict__ y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        dz[i] = relu_grad(dy, y, 1, i);
}

// dB version 3 is two passes. Pass 1: thread o of slice s (grid (ceil(out/256), slices), block
// 256; consecutive threads read consecutive o: coalesced) sums dz[m, o] over the m of its
// slice in order into partial[o * slices + s]: transposed, so that pass 2 reads a column's
// partials contiguously. dz is dy through the ReLU mask of y when relu. The host picks about
// 64K threads' worth of slices (cuda/conv.go: biasSlices3), far more parallel than version 2's
// slices of 256 positions, and pass 2 adds a column's partials with a whole warp.
__device__ __forceinline__ void bias_partial_v3_body(float* __restrict__ dz_out, float* __restrict__ partial,
                                                     const float* __restrict__ dy, const float* __restrict__ y,
                                                     int relu, int M, int out, int slice_len, int slices) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    int mbeg = blockIdx.y * slice_len, mend = min(M, mbeg + slice_len);
    float acc = 0.0f;
    for (int m = mbeg; m < mend; m++) {
        float v = relu_grad(dy, y, relu, m * out + o);
        if (dz_out) dz_out[m * out + o] = v;
        acc += v;
    }
    partial[(size_t)o * slices + blockIdx.y] = acc;
}

// bias_partial_v3: pass 1 for a layer whose masked gradient is not needed as a tensor (no
// ReLU: dz is dy; or no dX/dW wanted).
extern "C" __global__ void bias_partial_v3(float* __restrict__ partial, const float* __restrict__ dy,
                                           const float* __restrict__ y, int relu, int M, int out,
                                           int slice_len, int slices) {
    bias_partial_v3_body(nullptr, partial, dy, y, relu, M, out, slice_len, slices);
}

// relu_mask_bias_v3: relu_mask_v3 and pass 1 in one pass over dy and y (one read of them
// instead of two, one launch fewer): it also writes dz, which the dX and dW GEMMs read.
extern "C" __global__ void relu_mask_bias_v3(float* __restrict__ dz, float* __restrict__ partial,
                                             const float* __restrict__ dy, const float* __restrict__ y,
                                             int M, int out, int slice_len, int slices) {
    bias_partial_v3_body(dz, partial, dy, y, 1, M, out, slice_len, slices);
}

// reduce_bias_v3, pass 2: grid ceil(out/8), block 256; warp w of block b adds column
// o = 8b + w: lane l sums partial[o * slices + s] for s = l, l + 32, ... in order, a fixed
// butterfly adds the lanes, and lane 0 adds the total into db[o]. The order depends on slices
// only: deterministic.
extern "C" __global__ void reduce_bias_v3(float* __restrict__ db, const float* __restrict__ partial,
                                          int slices, int out) {
    int o = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    if (o >= out) return;  // whole warps leave together
    int lane = threadIdx.x % WARP_SIZE;
    const float* col = partial + (size_t)o * slices;
    float acc = 0.0f;
    for (int s = lane; s < slices; s += WARP_SIZE) acc += col[s];
    acc = warp_sum(acc);
    if (lane == 0) db[o] += acc;
}
