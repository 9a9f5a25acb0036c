// optim.cu — Adam and RMSProp, each one fused multi-tensor launch over every parameter.
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/optim.ptx).
//
// Parameters stay separate tensors (the model allocates them one by one), so the update is a
// multi-tensor launch: the host uploads a table of TensorChunk entries (multitensor.cuh) and
// block b updates chunk b; the table is cached and re-uploaded only when the tensor list
// changes.
//
// Versions:
//   version 1 (adam_multi_v1): m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
//            p -= lr_t * m / (sqrt(v) + eps_t), with the bias corrections folded by the host
//            into lr_t = lr*sqrt(1-b2^t)/(1-b1^t) and eps_t = eps*sqrt(1-b2^t), exactly as the
//            CPU reference (nn/cpu/optim.go) does, in float32.
//   version 1 (rmsprop_multi_v1): ms = decay*ms + (1-decay)*g^2; p -= lr*g/(sqrt(ms)+eps).
#include "common.cuh"
#include "multitensor.cuh"

extern "C" __global__ void adam_multi_v1(const TensorChunk* __restrict__ table, float lr_t, float beta1,
                                         float beta2, float eps_t) {
    adam_chunk(table[blockIdx.x], lr_t, beta1, beta2, eps_t);
}

extern "C" __global__ void rmsprop_multi_v1(const TensorChunk* __restrict__ table, float lr, float decay,
                                            float eps) {
    rmsprop_chunk(table[blockIdx.x], lr, decay, eps);
}
