// step.cu — the training step with its scalars on the device, so that a whole step can be
// recorded as one CUDA graph and replayed (cuda/step.go, nn.StepRecorder).
//
// Build: make ptx (nvcc -ptx -arch=compute_80 -lineinfo -O3 -o kernels/ptx/step.ptx).
//
// The host-side step (pixelcnn.Trainer with the host ops) reads the loss's and the sum of
// squares' float64 partials back, adds them in order, takes the root, divides and folds
// Adam's bias corrections in float64. These kernels do the same float64 operations in the
// same order on the device (IEEE add, sqrt and divide are correctly rounded on both), so the
// device step's values are the host step's bit for bit. The partials come from the same
// kernels (softmax_xent_v1, sum_squares_multi_v1), and the updates below are the v1 kernels'
// arithmetic with their constants read from StepScalars.
//
// Versions:
//   version 1 (step_loss_v1, step_clip_v1): one block of 256 threads loads the partials into
//            shared memory 1024 at a time, thread 0 adds them in index order.
//   version 2 (scale_multi_v2, adam_multi_v2, rmsprop_multi_v2): scale_multi_v1,
//            adam_multi_v1 and rmsprop_multi_v1 (the same device functions, multitensor.cuh)
//            with the factor and constants from StepScalars and nothing done when its skip
//            flag is set.
#include <stddef.h>

#include "common.cuh"
#include "multitensor.cuh"

// StepScalars is the device side of nn.StepScalars (cuda/step.go writes and reads it by
// these byte offsets: 0, 8, 16, 20, 24, 28).
struct StepScalars {
    double nats;         // summed NLL of the batch (step_loss_v1)
    double sum_squares;  // of the gradients (step_clip_v1; 0 when the step does not clip)
    float lr;            // the update's step size for this step (written by the host)
    float eps;           // the update's epsilon for this step (written by the host)
    float clip_scale;    // what the gradients are multiplied by; 1: left as they are
    int skip;            // 1: the loss or the gradient norm is not finite, no update
};
// The host reads and writes these offsets (cuda/step.go: stepScalarsBytes, stepLROffset).
static_assert(offsetof(StepScalars, sum_squares) == 8 && offsetof(StepScalars, lr) == 16 &&
                  offsetof(StepScalars, eps) == 20 && offsetof(StepScalars, clip_scale) == 24 &&
                  offsetof(StepScalars, skip) == 28 && sizeof(StepScalars) == 32,
              "StepScalars layout changed: update cuda/step.go");

#define ORDERED_TILE 1024

// ordered_sum returns, in thread 0, partial[0] + partial[1] + ... in index order starting
// from 0.0, exactly the host's loop `total += v`; the loads are spread over the block.
__device__ double ordered_sum(const double* __restrict__ partial, int n) {
    __shared__ double tile[ORDERED_TILE];
    double s = 0.0;
    for (int base = 0; base < n; base += ORDERED_TILE) {
        int m = min(ORDERED_TILE, n - base);
        for (int i = threadIdx.x; i < m; i += blockDim.x) tile[i] = partial[base + i];
        __syncthreads();
        if (threadIdx.x == 0)
            for (int i = 0; i < m; i++) s += tile[i];
        __syncthreads();
    }
    return s;
}

// The loss starts the step: it sets nats, clears the clip state and sets skip from nats alone.
extern "C" __global__ void step_loss_v1(StepScalars* s, const double* __restrict__ partial, int n) {
    double nats = ordered_sum(partial, n);
    if (threadIdx.x == 0) {
        s->nats = nats;
        s->sum_squares = 0.0;
        s->clip_scale = 1.0f;
        s->skip = isfinite(nats) ? 0 : 1;
    }
}

// The host's clipping: norm = sqrt(ss); if norm > clip, scale by float32(clip / norm). A
// non-finite ss skips the update (the host path returns ErrNonFinite for it).
extern "C" __global__ void step_clip_v1(StepScalars* s, const double* __restrict__ partial, int n,
                                        double clip) {
    double ss = ordered_sum(partial, n);
    if (threadIdx.x != 0) return;
    s->sum_squares = ss;
    s->clip_scale = 1.0f;
    if (!isfinite(ss)) {
        s->skip = 1;
        return;
    }
    double norm = sqrt(ss);
    if (norm > clip) s->clip_scale = (float)(clip / norm);
}

// table[b].a *= clip_scale, unless the step is skipped or the factor is 1 (x * 1.0f == x, so
// leaving the gradients alone gives the same values without the pass over them).
extern "C" __global__ void scale_multi_v2(const TensorChunk* __restrict__ table, const StepScalars* s) {
    if (s->skip || s->clip_scale == 1.0f) return;
    scale_chunk(table[blockIdx.x], s->clip_scale);
}

extern "C" __global__ void adam_multi_v2(const TensorChunk* __restrict__ table, const StepScalars* s,
                                         float beta1, float beta2) {
    if (s->skip) return;
    adam_chunk(table[blockIdx.x], s->lr, beta1, beta2, s->eps);
}

extern "C" __global__ void rmsprop_multi_v2(const TensorChunk* __restrict__ table, const StepScalars* s,
                                            float decay) {
    if (s->skip) return;
    rmsprop_chunk(table[blockIdx.x], s->lr, decay, s->eps);
}
