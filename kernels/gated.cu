// gated.cu — the gated PixelCNN's elementwise ops (nn.GatedOps): the gate tanh(a) * sigmoid(g)
// per colour group and its backward, ELU and its backward, the class-conditional bias and
// its backward.
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/gated.ptx).
//
// Versions:
//   version 1 (gate_forward_v1, gate_backward_v1, elu_forward_v1, elu_backward_v1,
//            add_class_bias_v1): grid-stride loops, one output (gate: one output and its two
//            inputs) per thread per step. Memory bound. The backward kernels accumulate (+=),
//            and every gradient element is owned by one thread: no atomics.
//   version 1 (class_bias_partial_v1 + class_bias_reduce_v1): the class bias's backward,
//            dtable[labels[n]] += the sum of dy over image n's positions, in two passes with a
//            fixed order: thread f of block (x, n*slices + s) sums feature f over slice s of
//            image n's positions in order into partial[n, s, f]; then one thread per table
//            entry (c, f) adds, in image order and slice order, the partials of the images
//            labelled c, and adds that total into dtable once (a class no image has is left
//            untouched). Deterministic: no float atomics, the order depends on the shapes only.
//
// The gate's layout (nn.GatedOps.Gate): the last dimension of x is colors groups of 2*half
// features, group c's first half a and second half g; output feature c*half + k of a row is
// tanh(a_k) * sigmoid(g_k) of group c. kernels/hostsim/gated_sim.cpp runs these kernels on the
// CPU against float64 references.
#include "common.cuh"

// gate_ts returns tanh(a) and sigmoid(g) = 1 / (1 + exp(-g)) (0 for g -> -inf, 1 for +inf).
__device__ __forceinline__ void gate_ts(float a, float g, float& t, float& s) {
    t = tanhf(a);
    s = 1.0f / (1.0f + expf(-g));
}

// gate_in is the offset in x of input a of output i (g is half further on), for rows of
// colors*half outputs.
__device__ __forceinline__ int gate_in(int i, int half, int colors) {
    int row_out = colors * half;
    int r = i / row_out, rem = i - r * row_out;
    int c = rem / half, k = rem - c * half;
    return r * 2 * row_out + 2 * c * half + k;
}

// y [rows, colors*half] = gate of x [rows, colors*2*half].
extern "C" __global__ void gate_forward_v1(float* __restrict__ y, const float* __restrict__ x, int rows, int half,
                                           int colors) {
    int n = rows * colors * half;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int ia = gate_in(i, half, colors);
        float t, s;
        gate_ts(x[ia], x[ia + half], t, s);
        y[i] = t * s;
    }
}

// dx += dL/dx for the output gradient dy: da += dy (1 - t^2) s, dg += dy t s (1 - s), with
// t = tanh(a) and s = sigmoid(g) recomputed from x.
extern "C" __global__ void gate_backward_v1(float* __restrict__ dx, const float* __restrict__ dy,
                                            const float* __restrict__ x, int rows, int half, int colors) {
    int n = rows * colors * half;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int ia = gate_in(i, half, colors), ig = ia + half;
        float t, s;
        gate_ts(x[ia], x[ig], t, s);
        float d = dy[i];
        dx[ia] += d * (1.0f - t * t) * s;
        dx[ig] += d * t * s * (1.0f - s);
    }
}

// y = x for x > 0, exp(x) - 1 otherwise.
extern "C" __global__ void elu_forward_v1(float* __restrict__ y, const float* __restrict__ x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = v > 0.0f ? v : expm1f(v);
    }
}

// dx += dy * (1 if y > 0 else y + 1): the derivative written with the output.
extern "C" __global__ void elu_backward_v1(float* __restrict__ dx, const float* __restrict__ dy,
                                           const float* __restrict__ y, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float v = y[i];
        dx[i] += v > 0.0f ? dy[i] : dy[i] * (v + 1.0f);
    }
}

// y [N, per, f] = x + table[labels[n]] for image n (per positions of f features each); n is
// the element count N*per*f. y may be x.
extern "C" __global__ void add_class_bias_v1(float* y, const float* x, const float* __restrict__ table,
                                             const int* __restrict__ labels, int per, int f, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int img = i / (per * f), k = i % f;
        y[i] = x[i] + table[labels[img] * f + k];
    }
}

// Pass 1 of the class bias's backward: grid (ceil(f/blockDim), images*slices); thread k of
// block row b = img*slices + s writes partial[b, k] = the sum, in position order, of
// dy[img, p, k] over the positions p of slice s (slice_len positions, the last one shorter).
extern "C" __global__ void class_bias_partial_v1(float* __restrict__ partial, const float* __restrict__ dy, int per,
                                                 int f, int slice_len, int slices) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= f) return;
    int img = blockIdx.y / slices, s = blockIdx.y - img * slices;
    int p0 = s * slice_len, p1 = min(per, p0 + slice_len);
    const float* d = dy + ((size_t)img * per) * f + k;
    float acc = 0.0f;
    for (int p = p0; p < p1; p++) acc += d[(size_t)p * f];
    partial[(size_t)blockIdx.y * f + k] = acc;
}

// Pass 2: one thread per table entry (c, k), c < classes: the partials of every image
// labelled c, in image order then slice order, added into dtable[c, k] once.
extern "C" __global__ void class_bias_reduce_v1(float* __restrict__ dtable, const float* __restrict__ partial,
                                                const int* __restrict__ labels, int images, int slices, int f,
                                                int classes) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= classes * f) return;
    int c = i / f, k = i - c * f;
    float acc = 0.0f;
    bool any = false;
    for (int img = 0; img < images; img++) {
        if (labels[img] != c) continue;
        any = true;
        const float* pp = partial + ((size_t)img * slices) * f + k;
        for (int s = 0; s < slices; s++) acc += pp[(size_t)s * f];
    }
    if (any) dtable[i] += acc;
}
