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
#include "common.cuh"

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
