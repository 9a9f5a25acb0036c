//go:build cuda

// Package cuda is the GPU backend: nn.Backend on one NVIDIA GPU through the CUDA driver API
// (gorgonia.org/cu), with the hand-written kernels of pixelcnn/kernels. It exists only in
// builds tagged cuda and registers itself as "cuda" (nn.Open("cuda")).
//
// # Context and threads
//
// The backend retains the device's primary context. A CUDA context is current per OS thread
// and Go moves goroutines between threads, so every method locks the backend's mutex, pins
// its goroutine to its thread (runtime.LockOSThread) and makes the context current for the
// duration of the call (Backend.enter). There is no worker goroutine, hence no channel hop
// per op. The backend is safe for concurrent use; calls are serialized.
//
// gorgonia.org/cu calls cuInit in its package init and exits the process when it fails (no
// driver or no GPU), so a cuda-tagged binary only starts on a machine with a usable GPU;
// `--device auto` falls back to the CPU only in untagged binaries (or if New itself fails).
//
// # Streams, memory, errors
//
// Kernels are launched on a stream the backend creates (so that the sampler's per-subpixel
// pass and the training step can be captured into CUDA graphs, graph.go and step.go; the
// legacy default stream cannot be), and so are memsets and device-to-device copies. It is a
// blocking stream, so it and the host copies on the legacy default stream (ToHost, Upload,
// the step's scalars, the host-side loss and sum-of-squares partials) run in issue order,
// and host copies wait for it. Tensors hold a *devBuf from a caching pool (pool.go: size
// classes, free lists, stats); Release returns the buffer to the pool, which is safe at once
// because later work on the same stream runs after earlier work. While a graph is captured,
// released buffers go to the graph instead, and the multi-tensor tables it uses are pinned,
// until the graph's Release: its replays keep using them. Tensors
// must be Released (there is no finalizer). Every driver call is checked; a launch is checked
// at once, and a kernel's own failure shows at the next synchronizing call (ToHost, a loss).
// PIXELCNN_CUDA_DEBUG=1 synchronizes after every launch and names the failing kernel. New
// cannot return an error, so a failed allocation is returned by the next op instead.
//
// # Launch conventions
//
//   - Kernels are extern "C" __global__ functions, named <op>_v<version>; the PTX
//     (compute_80, JIT-compiled by the driver for the actual GPU) is embedded by
//     pixelcnn/kernels and every .entry is resolved at New, which fails naming any kernel
//     the backend needs and cannot find.
//   - gorgonia.org/cu's Function.Launch copies exactly 8 bytes from each parameter pointer,
//     so every argument is a uint64 slot (argPtr, argInt, argF32, argF64): 32-bit scalars
//     sit in the low half (little-endian), and no kernel takes a struct by value. Every
//     launch checks its argument count against the kernel's PTX declaration
//     (kernels.Entries): a host/kernel signature mismatch is an error naming the kernel, not
//     a kernel reading garbage.
//   - Index arithmetic in the kernels is 32-bit: tensors are limited to 2^30 elements (so a
//     grid-stride index plus its stride cannot overflow either) and
//     the host refuses larger ones before launching.
//   - Elementwise kernels: 256 threads, grid-stride loops over at most 4096 blocks.
//   - Masked conv version 2: 64x64 output tiles, 16-deep K chunks, 256 threads with 4x4
//     register blocks; grid (ceil(M/64), ceil(cols/64)[, slices]), M = N*H*W. Version 1
//     (PIXELCNN_CUDA_CONV=1 or SetConvVersion(1)) is the one-thread-per-output baseline.
//   - Masked conv version 3 (TF32 tensor cores, sm_80+; PIXELCNN_CUDA_CONV=3,
//     SetConvVersion(3) or SetPrecision(nn.TF32)): mma.sync m16n8k8 TF32 with FP32
//     accumulation, both operands rounded with cvt.rna (nn.RoundTF32), cp.async 3-stage
//     shared-memory pipeline; 128x64 output tiles, 16-deep K chunks, 128 threads (4 warps of
//     64x32); grid (ceil(M/128), ceil(cols/64)[, slices]). The backward pass masks dy by the
//     ReLU once into a pooled dz that the dX and dW GEMMs read, in the same pass as dB's
//     partial sums (relu_mask_bias_v3; reduce_bias_v3 adds them, a warp per output); dW sums
//     fixed slices into partials reduced in slice order (maskedconv_reduce_dw; about 1024
//     blocks, PIXELCNN_CUDA_DW_BLOCKS=N for tuning). MaskedConvAt is FP32 at either precision.
//   - Every forward version can write a residual sum in its epilogue (MaskedConvResidual),
//     every dX version can write instead of accumulate (MaskedConvBackwardFresh).
//   - Precision (nn.PrecisionSetter): FP32 (the default) runs version 2, TF32 version 3;
//     SetPrecision(nn.TF32) fails naming the GPU before compute capability 8.0.
//   - Reductions are deterministic: dW and dB sum fixed slices of positions into partial
//     buffers and add the slices in a fixed order; the loss and sum of squares write one
//     partial per block, which the host (or, for a recorded step, step_loss_v1 and
//     step_clip_v1) adds in order. No atomics anywhere.
//   - Multi-tensor launches (ZeroAll, Scale, SumSquares, Adam, RMSProp and their step.go
//     forms) take a device table of 16384-element chunks, cached per op and tensor list
//     (4 lists per op): one launch each.
//
// Profiling: Range (nn.Ranger) and PushRange/PopRange mark NVTX ranges (header-only NVTX v3).
package cuda
