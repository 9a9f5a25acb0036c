// multitensor.cuh — the chunk table of the multi-tensor launches (elementwise.cu, optim.cu).
//
// The host (cuda/multitensor.go) writes one TensorChunk per chunk of at most CHUNK_ELEMS
// elements of a tensor list, as five little-endian 64-bit words: four device pointers already
// offset to the chunk's start (unused ones 0) and the element count. Block b of a multi-tensor
// launch handles entry b, so one launch updates every parameter.
#pragma once

#define CHUNK_ELEMS 16384

struct TensorChunk {
    float* a;     // scale/sum_squares: the tensor; adam/rmsprop: the parameter; lerp: dst
    float* b;     // adam/rmsprop: the gradient; lerp: src
    float* c;     // adam: first moment m; rmsprop: mean square ms
    float* d;     // adam: second moment v
    long long n;  // elements in this chunk, <= CHUNK_ELEMS
};

// The per-chunk bodies of the multi-tensor updates, shared by the version 1 kernels (constants
// as parameters: optim.cu, elementwise.cu) and step.cu's version 2 (constants from device
// memory), so that both versions run the same float operations in the same order.

// adam_chunk: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr_t * m / (sqrt(v) + eps_t)
// over chunk c (a = p, b = g, c = m, d = v).
__device__ __forceinline__ void adam_chunk(const TensorChunk& c, float lr_t, float beta1, float beta2,
                                           float eps_t) {
    for (int i = threadIdx.x; i < c.n; i += blockDim.x) {
        float g = c.b[i];
        float m = beta1 * c.c[i] + (1.0f - beta1) * g;
        float v = beta2 * c.d[i] + (1.0f - beta2) * g * g;
        c.c[i] = m;
        c.d[i] = v;
        c.a[i] -= lr_t * m / (sqrtf(v) + eps_t);
    }
}

// rmsprop_chunk: ms = decay*ms + (1-decay)*g^2; p -= lr*g/(sqrt(ms)+eps) over chunk c
// (a = p, b = g, c = ms).
__device__ __forceinline__ void rmsprop_chunk(const TensorChunk& c, float lr, float decay, float eps) {
    for (int i = threadIdx.x; i < c.n; i += blockDim.x) {
        float g = c.b[i];
        float ms = decay * c.c[i] + (1.0f - decay) * g * g;
        c.c[i] = ms;
        c.a[i] -= lr * g / (sqrtf(ms) + eps);
    }
}

// scale_chunk: a *= f over chunk c.
__device__ __forceinline__ void scale_chunk(const TensorChunk& c, float f) {
    for (int i = threadIdx.x; i < c.n; i += blockDim.x) c.a[i] *= f;
}
