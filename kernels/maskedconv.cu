// maskedconv.cu — PixelCNN masked convolution: forward with bias and fused ReLU, and backward
// (dX, dW, dB), over NHWC activations and [K,K,In,Out] weights.
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/maskedconv.ptx).
//
// The convolution is an implicit GEMM. Row kk of the live weight matrix W[(taps+1)*in, out] is
// tap kk/in, input feature kk%in; taps before the centre are fully live, and for output feature
// o only the rows kk < live_rows(o) = taps*in + CentreInLimit(colour(o)) are live. No kernel
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
//
// Every backward kernel applies the fused ReLU's mask itself: dz = dy * (y > 0) when relu.
#include "common.cuh"

// ---------------------------------------------------------------------------------------------
// version 1: naive

extern "C" __global__ void maskedconv_forward_v1(float* __restrict__ y, const float* __restrict__ x,
                                                 const float* __restrict__ wt,
                                                 const float* __restrict__ bias, CONV_PARAMS) {
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

extern "C" __global__ void maskedconv_backward_dx_v1(float* __restrict__ dx, const float* __restrict__ dy,
                                                     const float* __restrict__ y,
                                                     const float* __restrict__ wt, CONV_PARAMS) {
    CONV_GEOM;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    int total = conv_positions(g) * g.in;
    if (idx >= total) return;
    int p = idx / g.in, ci = idx - p * g.in;
    float acc = 0.0f;
    for (int t = 0; t <= g.taps; t++) {
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
    dx[idx] += acc;
}

extern "C" __global__ void maskedconv_backward_dw_v1(float* __restrict__ dw, const float* __restrict__ dy,
                                                     const float* __restrict__ y,
                                                     const float* __restrict__ x, CONV_PARAMS) {
    CONV_GEOM;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    int kw = (g.taps + 1) * g.in;
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
                      const float* __restrict__ bias, CONV_PARAMS) {
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
        }
    }
}

// dX: grid (ceil(M/64), ceil(in/64)), block 256. Inner index k2 = t*out + o over t <= taps.
// A[p, k2] = dz[p - off(t), o]; B[k2, ci] = W[t*in + ci, o] when live. dx += C.
extern "C" __global__ void __launch_bounds__(TILE_THREADS)
maskedconv_backward_dx_v2(float* __restrict__ dx, const float* __restrict__ dy, const float* __restrict__ y,
                          const float* __restrict__ wt, CONV_PARAMS) {
    CONV_GEOM;
    __shared__ GemmTiles s;
    const int M = conv_positions(g);
    const int p0 = blockIdx.x * TILE_M, c0 = blockIdx.y * TILE_N;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int kcentre = g.taps * g.out;          // first inner index of the centre tap
    const int kend = kcentre + g.out;
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
            if (ci < g.in) dx[p * g.in + ci] += acc[i][j];
        }
    }
}

// dW partials: grid (ceil(kw/64), ceil(out/64), slices), block 256, kw = (taps+1)*in.
// partial[s, kk, o] = sum over m in slice s of im2col(m, kk) * dz[m, o]. Tiles with no live
// weight return at once (their partial entries are never read).
extern "C" __global__ void __launch_bounds__(TILE_THREADS)
maskedconv_backward_dw_v2(float* __restrict__ partial, const float* __restrict__ dy,
                          const float* __restrict__ y, const float* __restrict__ x, CONV_PARAMS,
                          int slice_len) {
    CONV_GEOM;
    __shared__ GemmTiles s;
    const int M = conv_positions(g);
    const int kw = (g.taps + 1) * g.in;
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
    const int kw = (g.taps + 1) * g.in;
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
