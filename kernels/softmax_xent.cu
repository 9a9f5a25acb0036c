// softmax_xent.cu — the fused PixelCNN loss: per subpixel, a max-subtracted log-sum-exp over
// its 256 logits, the NLL of the target value, and dlogits = scale * (softmax - onehot).
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/softmax_xent.ptx).
//
// Layout: logits [N,H,W,C*256] is `subpixels` = N*H*W*C contiguous rows of 256 (channel k is
// colour k/256, value k%256), so subpixel s's row starts at s*256 and its image value is x[s].
//
// Versions:
//   version 1 (softmax_xent_v1): one warp per subpixel (8 logits per lane, coalesced), warps
//            stride over subpixels with a grid fixed by the host from the subpixel count.
//            exp and the sum are float64 like the CPU reference, so the NLL matches it to
//            rounding. Each block writes one float64 partial (its warps' sums in warp order);
//            the host adds the partials in order: deterministic, no atomics.
#include "common.cuh"

extern "C" __global__ void softmax_xent_v1(double* __restrict__ partial, float* __restrict__ dlogits,
                                           const float* __restrict__ logits, const float* __restrict__ x,
                                           int subpixels, float scale) {
    const int lane = threadIdx.x % WARP_SIZE;
    const int warps_per_block = blockDim.x / WARP_SIZE;
    const int warp = blockIdx.x * warps_per_block + threadIdx.x / WARP_SIZE;
    const int nwarps = gridDim.x * warps_per_block;
    double nats = 0.0;
    for (int sp = warp; sp < subpixels; sp += nwarps) {
        const float* row = logits + (size_t)sp * 256;
        float v[8];
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            v[i] = row[lane + 32 * i];
            mx = fmaxf(mx, v[i]);
        }
        mx = warp_max(mx);
        double e[8];
        double z = 0.0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            e[i] = exp((double)(v[i] - mx));
            z += e[i];
        }
        z = warp_sum_d(z);
        // The target as the CPU reference computes it: int(x*255 + 0.5) in float32 (no FMA),
        // clamped to [0, 255].
        int t = (int)__fadd_rn(__fmul_rn(x[sp], 255.0f), 0.5f);
        t = min(max(t, 0), 255);
        if (lane == 0) nats += ((double)mx + log(z)) - (double)row[t];
        if (dlogits) {
            float* drow = dlogits + (size_t)sp * 256;
            double inv = 1.0 / z;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                int kidx = lane + 32 * i;
                float d = __fmul_rn(scale, (float)(e[i] * inv));
                if (kidx == t) d = __fsub_rn(d, scale);
                drow[kidx] = d;
            }
        }
    }
    double s = block_sum_d(nats);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
