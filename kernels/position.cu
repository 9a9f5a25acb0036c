// position.cu — the cached sampler's per-position kernels, version 2.
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/position.ptx).
//
// Exactness. The naive sampler runs the forward kernels, where every output is one sequential
// fmaf chain over the live rows kk = 0, 1, 2, ... of the im2col row, then "+ bias", then the
// ReLU (maskedconv.cu, both versions). maskedconv_at_v1 (in maskedconv.cu) runs that chain
// with one thread per (image, o). Version 2 runs the very same chain per output, in the same
// order, so its values are bitwise those of the forward; the reduction is never split across
// lanes (that would change the rounding). Its speed comes from elsewhere:
//   - the block stages the im2col row at (i, j) of its images in shared memory once (zero for
//     out-of-image taps, as im2col_load), so the chain reads x with one broadcast LDS.128 per
//     term for four images, with no index arithmetic;
//   - each thread owns one output o for AT_IMGS = 4 images: four independent chains that share
//     each weight load (1 weight load and 4 FMAs per term, the FMA latency of one chain hidden
//     by the other three);
//   - weights are read coalesced across o (lane = o) through the read-only path, AT_U = 32
//     rows at a time, and the next 32 rows are loaded while the current 32 are used (register
//     double buffering), so a global-load latency is paid once per 32 terms, not per term.
// Launch: block = 32 * q threads (q = 1 or 2 image quads; the two warps of a block read the
// same weights, the second hitting L1), grid = (ceil(out/32), ceil(n/(4q))), dynamic shared
// memory 4q * conv_kw(g) floats. The host picks q = 2 when that fits in 48 KiB, else 1, else
// it runs version 1.
//
// Device cursor. For CUDA graphs the position can come from device memory: when cursor is not
// null, the subpixel index sub = cursor[0] (raster order, colours innermost, cursor_colors
// colours per pixel, cursor_w pixels per row) replaces (i, j): pixel sub / cursor_colors. A
// replayed graph then runs at the position the previous replay left behind
// (sample_cursor_advance_v1, sample.cu). An x of one pixel ([n,1,1,in], the residual stream at
// the position) is read at that one pixel whatever the position.
//
// Fused epilogues (the sampler's residual blocks; exact, as the values are the same numbers
// the separate ops would see): with accumulate, y = y + v (AddInto after the conv: conv_out
// and the residual add); with cache not null, v is also written into cache [n,h,w,out] at
// the position (SetPosition after the conv: conv_in and its cache write).
#include "common.cuh"

#define AT_IMGS 4  // images per thread (independent chains sharing each weight load)
#define AT_U 32    // weight rows per register batch

// AT_SMEM declares the dynamic shared memory at_x (the host emulation, kernels/hostsim/
// cuda_host.h, supplies its own: a NaN-filled buffer).
#ifndef AT_SMEM
#define AT_SMEM extern __shared__ float4 at_x[]
#endif

// cursor_pixel replaces (i, j) with the pixel of the cursor's subpixel when cursor is set (w
// pixels per row). A cursor past the last pixel gives i = h: the kernels then do nothing.
__device__ __forceinline__ void cursor_pixel(const int* __restrict__ cursor, int cursor_colors, int w,
                                             int& i, int& j) {
    if (!cursor) return;
    int pix = cursor[0] / cursor_colors;
    i = pix / w;
    j = pix - i * w;
}

// at_stage writes the im2col rows at (i, j) of images img0 .. img0+imgs-1 (zero past g.n)
// into xs as [imgs/4][L] float4s: xs[quad*L + kk] holds the four images of that quad at kk.
__device__ __forceinline__ void at_stage(float* __restrict__ xs, const float* __restrict__ x,
                                         const ConvGeom& g, int i, int j, int img0, int imgs, int L) {
    for (int t = threadIdx.x; t < imgs * L; t += blockDim.x) {
        int ib = t / L, kk = t - ib * L;
        int img = img0 + ib;
        float v = 0.0f;
        if (img < g.n) v = im2col_load(x, g, (img * g.h + i) * g.w + j, kk);
        xs[((ib / AT_IMGS) * L + kk) * AT_IMGS + ib % AT_IMGS] = v;
    }
}

// at_term adds term kk of the four chains: acc[b] = fmaf(x_b[kk], w, acc[b]).
__device__ __forceinline__ void at_term(float acc[AT_IMGS], float4 xv, float w) {
    acc[0] = fmaf(xv.x, w, acc[0]);
    acc[1] = fmaf(xv.y, w, acc[1]);
    acc[2] = fmaf(xv.z, w, acc[2]);
    acc[3] = fmaf(xv.w, w, acc[3]);
}

// at_chains runs the four chains of output column wcol over rows 0 .. rows-1 in order. Weight
// rows past rows (up to L-1, the last row any output reads) are loaded but never used; loads
// are clamped to row L-1, so none reads past the live weight matrix.
__device__ __forceinline__ void at_chains(float acc[AT_IMGS], const float4* __restrict__ xq,
                                          const float* __restrict__ wcol, int out, int rows, int L) {
#pragma unroll
    for (int b = 0; b < AT_IMGS; b++) acc[b] = 0.0f;
    float cur[AT_U];
#pragma unroll
    for (int u = 0; u < AT_U; u++) cur[u] = __ldg(wcol + min(u, L - 1) * out);
    int kk = 0;
    for (; kk + AT_U <= rows; kk += AT_U) {
        float nxt[AT_U];
#pragma unroll
        for (int u = 0; u < AT_U; u++) nxt[u] = __ldg(wcol + min(kk + AT_U + u, L - 1) * out);
#pragma unroll
        for (int u = 0; u < AT_U; u++) at_term(acc, xq[kk + u], cur[u]);
#pragma unroll
        for (int u = 0; u < AT_U; u++) cur[u] = nxt[u];
    }
#pragma unroll
    for (int u = 0; u < AT_U; u++)
        if (kk + u < rows) at_term(acc, xq[kk + u], cur[u]);
}

// maskedconv_at_v2: y [n,1,1,out] = act(conv(x, w) + b) at (i, j) of every image (or at the
// cursor's pixel), bitwise equal to the forward kernels' values there; see the header for the
// cursor, cache and accumulate.
extern "C" __global__ void __launch_bounds__(64)
maskedconv_at_v2(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ wt,
                 const float* __restrict__ bias, CONV_PARAMS, int i, int j,
                 const int* __restrict__ cursor, int cursor_colors, int cursor_w,
                 float* __restrict__ cache, int cache_h, int accumulate) {
    CONV_GEOM;
    AT_SMEM;
    cursor_pixel(cursor, cursor_colors, cursor_w, i, j);
    const int pix = i * cursor_w + j;  // the position in the cache
    if (cache && i >= cache_h) return;  // a cursor past the end (uniform, before any barrier)
    if (g.h == 1 && g.w == 1) {
        i = 0;  // a one-pixel x: the vector at the position
        j = 0;
    }
    if (i >= g.h) return;
    const int L = conv_kw(g);
    const int quads = blockDim.x / WARP_SIZE;
    const int img0 = blockIdx.y * quads * AT_IMGS;
    at_stage((float*)at_x, x, g, i, j, img0, quads * AT_IMGS, L);
    __syncthreads();
    const int lane = threadIdx.x % WARP_SIZE, quad = threadIdx.x / WARP_SIZE;
    const int o = blockIdx.x * WARP_SIZE + lane;
    if (o >= g.out) return;
    float acc[AT_IMGS];
    at_chains(acc, at_x + quad * L, wt + o, g.out, live_rows(g, o), L);
#pragma unroll
    for (int b = 0; b < AT_IMGS; b++) {
        int img = img0 + quad * AT_IMGS + b;
        if (img >= g.n) break;
        float v = acc[b];
        if (bias) v += bias[o];  // as the forward: the chain, then + bias, then the ReLU
        if (g.relu) v = fmaxf(v, 0.0f);
        if (cache) cache[((size_t)img * cache_h * cursor_w + pix) * g.out + o] = v;
        if (accumulate) v = y[img * g.out + o] + v;  // as AddInto: dst + src
        y[img * g.out + o] = v;
    }
}
