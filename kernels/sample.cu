// sample.cu — categorical sampling of one subpixel for every image of a batch.
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/sample.ptx).
//
// Versions:
//   version 1 (sample_categorical_v1): one thread per row (image). Inverse-CDF over
//            softmax(l/T) exactly as the CPU reference (nn/cpu/loss.go): m = max of the 256
//            logits, p_k = exp(float64(l_k - m) * invT), target = u * sum p_k with
//            u = Uniform(seed, counter, row) (Philox4x32-10, common.cuh), and the draw is the
//            first k whose running float64 sum exceeds the target (255 if none). The sums run
//            in the same sequential order as the CPU, so both backends draw the same values.
//            Rows are a batch (tens), so one thread each is plenty; the work is 512 exps.
//   version 2 (sample_categorical_v2, sample_draw_v2): one warp per row, the same draws as
//            version 1 bit for bit. The lanes compute the 256 terms p_k = exp(...) (each a
//            pure function of its logit, so who computes it does not matter) into shared
//            memory; lane 0 forms the running float64 sums s_k = p_0 + ... + p_k in version 1's
//            order (z = s_255 is version 1's z, and version 1's running sum at k is s_k); the
//            lanes then find the first k < 255 with s_k > target by ballot. Only the 256 adds
//            stay sequential (version 1 had 768 dependent steps, two thirds of them exps).
//            sample_draw_v2 is the cached sampler's device draw: the subpixel comes from a
//            device cursor (position.cu), and the draw v is written as v/255 straight into the
//            image cache, so nothing returns to the host per subpixel.
//   sample_cursor_advance_v1: cursor[0] += 1, after every kernel that read it.
#include "common.cuh"

#define DRAW_WARPS 4  // rows (warps) per block of the version 2 draws

extern "C" __global__ void sample_categorical_v1(int* __restrict__ out, const float* __restrict__ logits,
                                                 int rows, int row_len, int offset, double inv_t,
                                                 unsigned long long seed, unsigned long long counter) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float* l = logits + (size_t)r * row_len + offset;
    float mx = l[0];
    for (int k = 1; k < 256; k++) mx = fmaxf(mx, l[k]);
    double z = 0.0;
    for (int k = 0; k < 256; k++) z += exp((double)(l[k] - mx) * inv_t);
    double target = (double)philox_uniform(seed, counter, r) * z;
    double run = 0.0;
    int k = 0;
    for (; k < 255; k++) {
        run += exp((double)(l[k] - mx) * inv_t);
        if (run > target) break;
    }
    out[r] = k;
}

// warp_draw is the version 1 draw of one row l[0..255] by one warp (see the header): every lane
// returns the drawn value. p is the warp's 256 doubles of shared memory.
__device__ __forceinline__ int warp_draw(const float* __restrict__ l, double inv_t, float u,
                                         double* __restrict__ p) {
    const int lane = threadIdx.x % WARP_SIZE;
    float mx = l[lane];
    for (int k = lane + WARP_SIZE; k < 256; k += WARP_SIZE) mx = fmaxf(mx, l[k]);
    mx = warp_max(mx);  // a max is exact in any order
    for (int k = lane; k < 256; k += WARP_SIZE) p[k] = exp((double)(l[k] - mx) * inv_t);
    __syncwarp();
    if (lane == 0) {
        double run = 0.0;
        for (int k = 0; k < 256; k++) {
            run += p[k];
            p[k] = run;
        }
    }
    __syncwarp();
    double target = (double)u * p[255];
    for (int k0 = 0; k0 < 255; k0 += WARP_SIZE) {
        int k = k0 + lane;
        unsigned hit = __ballot_sync(FULL_MASK, k < 255 && p[k] > target);
        if (hit) return k0 + __ffs(hit) - 1;
    }
    return 255;
}

// sample_categorical_v2 is sample_categorical_v1 with one warp per row: block DRAW_WARPS warps.
extern "C" __global__ void __launch_bounds__(DRAW_WARPS * WARP_SIZE)
sample_categorical_v2(int* __restrict__ out, const float* __restrict__ logits, int rows, int row_len,
                      int offset, double inv_t, unsigned long long seed, unsigned long long counter) {
    __shared__ double p[DRAW_WARPS][256];
    int warp = threadIdx.x / WARP_SIZE;
    int r = blockIdx.x * DRAW_WARPS + warp;
    if (r >= rows) return;  // whole warps leave together
    int k = warp_draw(logits + (size_t)r * row_len + offset, inv_t, philox_uniform(seed, counter, r), p[warp]);
    if (threadIdx.x % WARP_SIZE == 0) out[r] = k;
}

// sample_draw_v2 draws subpixel sub = cursor[0] (colour c = sub % colors) of every image from
// logits [n,1,1,256*colors] (colour c's 256 logits), as sample_categorical_v1 with offset
// c*256 and counter sub, and writes v/255 into img [n,h,w,colors] at that subpixel.
extern "C" __global__ void __launch_bounds__(DRAW_WARPS * WARP_SIZE)
sample_draw_v2(float* __restrict__ img, const float* __restrict__ logits, int n, int hw, int colors,
               double inv_t, unsigned long long seed, const int* __restrict__ cursor) {
    __shared__ double p[DRAW_WARPS][256];
    int warp = threadIdx.x / WARP_SIZE;
    int r = blockIdx.x * DRAW_WARPS + warp;
    if (r >= n) return;
    int sub = cursor[0];
    if (sub >= hw * colors) return;  // a cursor past the end: nothing to draw
    int c = sub % colors;
    const float* l = logits + (size_t)r * 256 * colors + c * 256;
    int k = warp_draw(l, inv_t, philox_uniform(seed, (unsigned long long)sub, r), p[warp]);
    if (threadIdx.x % WARP_SIZE == 0) img[(size_t)r * hw * colors + sub] = (float)k / 255.0f;
}

extern "C" __global__ void sample_cursor_advance_v1(int* cursor) {
    if (threadIdx.x == 0 && blockIdx.x == 0) cursor[0] += 1;
}
