// elementwise.cu — ReLU, its backward, add, add-into, and the multi-tensor scale and sum of
// squares (gradient clipping).
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/elementwise.ptx).
//
// Versions:
//   version 1 (set_position_v1): writes one position of every image (the cached sampler).
//   version 1 (relu_forward_v1, relu_backward_v1, add_v1, add_into_v1): grid-stride loops,
//            one float per thread per step, coalesced. Memory bound; that is the whole cost.
//   version 1 (zero_multi_v1, scale_multi_v1, sum_squares_multi_v1, lerp_multi_v1): multi-tensor launches. The host splits
//            every tensor into chunks of at most CHUNK_ELEMS elements and uploads a table of
//            TensorChunk entries; block b handles entry b, so one launch covers all tensors.
//            sum_squares writes one float64 partial per chunk, which the host adds in order
//            (deterministic).
#include "common.cuh"
#include "multitensor.cuh"

extern "C" __global__ void relu_forward_v1(float* __restrict__ y, const float* __restrict__ x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y[i] = fmaxf(x[i], 0.0f);
}

// dx += dy * (y > 0)
extern "C" __global__ void relu_backward_v1(float* __restrict__ dx, const float* __restrict__ dy,
                                            const float* __restrict__ y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        if (y[i] > 0.0f) dx[i] += dy[i];
}

// y = a + b (y may alias a or b: each element is read before it is written by the same thread)
extern "C" __global__ void add_v1(float* y, const float* a, const float* b, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

// dst += src
extern "C" __global__ void add_into_v1(float* dst, const float* src, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        dst[i] += src[i];
}

// dst [n,h,w,f] at (i, j) = src [n,1,1,f]; one thread per (image, feature).
extern "C" __global__ void set_position_v1(float* __restrict__ dst, const float* __restrict__ src, int n,
                                           int h, int w, int f, int i, int j) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n * f) return;
    int img = idx / f, c = idx - img * f;
    dst[((img * h + i) * w + j) * f + c] = src[idx];
}

// table[b].a = 0 over its n elements (zeroing every gradient in one launch).
extern "C" __global__ void zero_multi_v1(const TensorChunk* __restrict__ table) {
    TensorChunk c = table[blockIdx.x];
    for (int i = threadIdx.x; i < c.n; i += blockDim.x) c.a[i] = 0.0f;
}

// table[b].a *= s over its n elements.
extern "C" __global__ void scale_multi_v1(const TensorChunk* __restrict__ table, float s) {
    scale_chunk(table[blockIdx.x], s);
}

// table[b].a += w * (table[b].b - table[b].a): the trainer's Polyak average of the weights
// (nn.Averager). Each operation is rounded on its own (__fsub_rn, __fmul_rn, __fadd_rn: nvcc
// would otherwise contract the multiply and add into an FMA), so the bits are the CPU's.
extern "C" __global__ void lerp_multi_v1(const TensorChunk* __restrict__ table, float w) {
    TensorChunk c = table[blockIdx.x];
    for (int i = threadIdx.x; i < c.n; i += blockDim.x) {
        float d = c.a[i];
        c.a[i] = __fadd_rn(d, __fmul_rn(w, __fsub_rn(c.b[i], d)));
    }
}

// partial[b] = sum over table[b].a of v*v in float64.
extern "C" __global__ void sum_squares_multi_v1(double* __restrict__ partial,
                                                const TensorChunk* __restrict__ table) {
    TensorChunk c = table[blockIdx.x];
    double acc = 0.0;
    for (int i = threadIdx.x; i < c.n; i += blockDim.x) {
        double v = c.a[i];
        acc += v * v;
    }
    double s = block_sum_d(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
