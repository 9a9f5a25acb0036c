// multitensor.cuh — the chunk table of the multi-tensor launches (elementwise.cu, optim.cu).
//
// The host (cuda/multitensor.go) writes one TensorChunk per chunk of at most CHUNK_ELEMS
// elements of a tensor list, as five little-endian 64-bit words: four device pointers already
// offset to the chunk's start (unused ones 0) and the element count. Block b of a multi-tensor
// launch handles entry b, so one launch updates every parameter.
#pragma once

#define CHUNK_ELEMS 16384

struct TensorChunk {
    float* a;     // scale/sum_squares: the tensor; adam/rmsprop: the parameter
    float* b;     // adam/rmsprop: the gradient
    float* c;     // adam: first moment m; rmsprop: mean square ms
    float* d;     // adam: second moment v
    long long n;  // elements in this chunk, <= CHUNK_ELEMS
};
