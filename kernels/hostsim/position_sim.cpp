// position_sim.cpp — runs the cached sampler's GPU kernels (kernels/position.cu and the draws
// of kernels/sample.cu) on the CPU, to check their indexing and their exactness where no GPU
// is at hand.
//
//   g++ -std=c++20 -O1 -g -fsanitize=address,undefined -pthread -I kernels \
//       -o /tmp/possim kernels/hostsim/position_sim.cpp && /tmp/possim [at|fused|draws]
//
// (about 20 minutes in all on a loaded 2-core machine, most of it starting threads.)
//
// The .cu files are compiled as host C++ with the emulation of cuda_host.h (which says what is
// emulated and its limits): each block runs as blockDim OS threads with a real barrier for
// __syncthreads, and the warp built-ins (__shfl_xor_sync, __ballot_sync, __syncwarp) exchange
// values between the 32 threads of a warp through a per-warp barrier. fmaf is the C library's
// fused multiply-add, correctly rounded as on the GPU, so the chains' bits are the GPU's; exp
// is the host's, so the draws are checked against version 1 run here, not against the GPU's
// numbers.
// Checks:
//   - maskedconv_at_v2 (host position and device cursor, one and two image quads per block)
//     gives exactly the bits of maskedconv_at_v1's chain (the forward's) at every position,
//     for masks A and B, k = 1, 3, 7, one and three colours, image and output counts that fill
//     no quad or warp; every masked weight, every input it must not read (later positions, the
//     last colour's centre under mask A) and the dynamic shared memory start as NaN, so a read
//     that reaches a chain shows; AddressSanitizer catches reads past a tensor.
//   - the fused epilogues (cache write, accumulate) give the separate ops' values, at the
//     cursor's pixel only; a cursor past the end writes nothing.
//   - sample_categorical_v2 and sample_draw_v2 draw exactly sample_categorical_v1's values for
//     peaked and flat logits and several temperatures; sample_draw_v2 writes v/255 at the
//     cursor's subpixel only; a cursor past the end writes nothing.
#include <random>
#include <string>

#include "cuda_host.h"

#include "position.cu"
#include "sample.cu"

static int failures = 0;
#define CHECK(cond, ...)                          \
    do {                                          \
        if (!(cond)) {                            \
            std::fprintf(stderr, __VA_ARGS__);    \
            std::fprintf(stderr, "\n");           \
            if (++failures > 20) std::exit(1);    \
        }                                         \
    } while (0)

static bool same_bits(float a, float b) {
    uint32_t x, y;
    std::memcpy(&x, &a, 4);
    std::memcpy(&y, &b, 4);
    return x == y;
}

// ---- per-position conv ---------------------------------------------------------------------
struct AtCase {
    int n, h, w, k, in, out, colors, mask_b, relu;
};

// The host's choice (cuda/position.go atQuads): two quads per block when they fit in 48 KiB.
static int quads_for(int L) {
    for (int q = 2; q >= 1; q--)
        if (q * AT_IMGS * L * 4 <= 48 * 1024) return q;
    return 0;
}

static void check_at(const AtCase& c, std::mt19937& rng) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::uniform_real_distribution<float> u(-1, 1);
    ConvGeom g = make_geom(c.n, c.h, c.w, c.in, c.out, c.k, c.colors, c.mask_b, c.relu, 0, 1);
    const int L = conv_kw(g);
    std::vector<float> w((size_t)c.k * c.k * c.in * c.out), bias(c.out);
    for (int kk = 0; kk < c.k * c.k * c.in; kk++)
        for (int o = 0; o < c.out; o++)
            w[(size_t)kk * c.out + o] = kk < live_rows(g, o) ? u(rng) * 0.3f : nan;  // masked: NaN
    for (auto& v : bias) v = u(rng) * 0.3f;
    const int q = quads_for(L);
    if (q == 0) {
        std::printf("  skip %d live rows (version 1 on the GPU)\n", L);
        return;
    }
    std::vector<float> x((size_t)c.n * c.h * c.w * c.in);
    for (int i = 0; i < c.h; i++)
        for (int j = 0; j < c.w; j++) {
            // Poison what (i, j) must not read: later positions, and under mask A the centre's
            // last colour group.
            for (int img = 0; img < c.n; img++)
                for (int p = 0; p < c.h * c.w; p++)
                    for (int f = 0; f < c.in; f++) {
                        int centre = i * c.w + j;
                        bool hidden = p > centre || (p == centre && !c.mask_b && f >= c.in - c.in / c.colors);
                        x[((size_t)img * c.h * c.w + p) * c.in + f] = hidden ? nan : u(rng);
                    }
            // Reference: maskedconv_at_v1's chain.
            std::vector<float> ref((size_t)c.n * c.out);
            for (int img = 0; img < c.n; img++)
                for (int o = 0; o < c.out; o++) {
                    int m = (img * c.h + i) * c.w + j;
                    float acc = 0.0f;
                    for (int kk = 0; kk < live_rows(g, o); kk++)
                        acc = fmaf(im2col_load(x.data(), g, m, kk), w[(size_t)kk * c.out + o], acc);
                    acc += bias[o];
                    if (c.relu) acc = fmaxf(acc, 0.0f);
                    ref[(size_t)img * c.out + o] = acc;
                }
            int cursor = (i * c.w + j) * 3 + 2;  // a 3-colour cursor at the pixel's last colour
            for (int use_cursor = 0; use_cursor < 2; use_cursor++)
                for (int quads = q; quads >= 1; quads--) {
                    std::vector<float> y((size_t)c.n * c.out, nan);
                    Dim3 grid{(c.out + 31) / 32, (c.n + quads * AT_IMGS - 1) / (quads * AT_IMGS), 1};
                    launch(grid, quads * 32, (size_t)quads * AT_IMGS * L * 4, [&] {
                        maskedconv_at_v2(y.data(), x.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out,
                                         c.k, c.colors, c.mask_b, c.relu, 0, 1, use_cursor ? 0 : i, use_cursor ? 0 : j,
                                         use_cursor ? &cursor : nullptr, 3, c.w, nullptr, 0, 0);
                    });
                    for (size_t e = 0; e < y.size(); e++)
                        CHECK(same_bits(y[e], ref[e]), "at (%d,%d) cursor %d quads %d: element %zu = %g, want %g", i,
                              j, use_cursor, quads, e, y[e], ref[e]);
                }
        }
}

// check_fused: a vector conv at a cursor with the fused epilogues. With a cache, y and the
// cache's pixel get exactly the plain output and nothing else in the cache changes; with
// accumulate, y = y + output (as AddInto); a cursor past the end writes nothing.
static void check_fused(std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1, 1);
    const int n = 9, in = 96, out = 42, colors = 3, h = 3, w = 4;
    ConvGeom g = make_geom(n, 1, 1, in, out, 1, colors, 1, 1, 0, 1);
    std::vector<float> wt((size_t)in * out), bias(out), x((size_t)n * in), y0((size_t)n * out);
    for (int kk = 0; kk < in; kk++)
        for (int o = 0; o < out; o++)
            wt[(size_t)kk * out + o] = kk < live_rows(g, o) ? u(rng) : std::numeric_limits<float>::quiet_NaN();
    for (auto* v : {&bias, &x, &y0})
        for (auto& e : *v) e = u(rng);
    std::vector<float> ref((size_t)n * out);
    for (int img = 0; img < n; img++)
        for (int o = 0; o < out; o++) {
            float acc = 0.0f;
            for (int kk = 0; kk < live_rows(g, o); kk++) acc = fmaf(x[(size_t)img * in + kk], wt[(size_t)kk * out + o], acc);
            ref[(size_t)img * out + o] = fmaxf(acc + bias[o], 0.0f);
        }
    const int pi = 1, pj = 2;
    for (int past = 0; past < 2; past++)
        for (int accumulate = 0; accumulate < 2; accumulate++) {
            int cursor = past ? h * w * colors : (pi * w + pj) * colors + 1;
            std::vector<float> y = y0, cache((size_t)n * h * w * out, -7.0f);
            launch({(out + 31) / 32, (n + 7) / 8, 1}, 64, (size_t)8 * in * 4, [&] {
                maskedconv_at_v2(y.data(), x.data(), wt.data(), bias.data(), n, 1, 1, in, out, 1, colors, 1, 1, 0, 1, 0, 0,
                                 &cursor, colors, w, accumulate ? nullptr : cache.data(), h, accumulate);
            });
            for (int img = 0; img < n; img++)
                for (int o = 0; o < out; o++) {
                    size_t e = (size_t)img * out + o;
                    // Past the end, only the cache's guard stops the kernel (a vector needs no pixel).
                    float want = accumulate ? y0[e] + ref[e] : past ? y0[e] : ref[e];
                    CHECK(same_bits(y[e], want), "fused past %d accumulate %d: y[%zu] = %g, want %g", past, accumulate, e,
                          y[e], want);
                    for (int p = 0; p < h * w; p++) {
                        float c = cache[((size_t)img * h * w + p) * out + o];
                        float cw = !accumulate && !past && p == pi * w + pj ? ref[e] : -7.0f;
                        CHECK(same_bits(c, cw), "fused past %d accumulate %d: cache image %d pixel %d feature %d = %g, want %g",
                              past, accumulate, img, p, o, c, cw);
                    }
                }
        }
}

// ---- draws ---------------------------------------------------------------------------------
static void check_draws(std::mt19937& rng) {
    const int n = 37, h = 2, w = 3, colors = 3;
    std::uniform_real_distribution<float> u(-1, 1);
    for (double temp : {1.0, 0.5, 3.0})
        for (float scale : {0.1f, 8.0f}) {
            std::vector<float> logits((size_t)n * 256 * colors);
            for (auto& v : logits) v = u(rng) * scale;
            const double inv_t = 1 / temp;
            const unsigned long long seed = 11;
            for (int sub = 0; sub <= h * w * colors; sub++) {
                int c = sub % colors;
                std::vector<int> v1(n, -1), v2(n, -2);
                launch({(n + 127) / 128, 1, 1}, 128, 0, [&] {
                    sample_categorical_v1(v1.data(), logits.data(), n, 256 * colors, c * 256, inv_t, seed, sub);
                });
                launch({(n + DRAW_WARPS - 1) / DRAW_WARPS, 1, 1}, DRAW_WARPS * 32, 0, [&] {
                    sample_categorical_v2(v2.data(), logits.data(), n, 256 * colors, c * 256, inv_t, seed, sub);
                });
                std::vector<float> img((size_t)n * h * w * colors, -1.0f);
                int cursor = sub;
                launch({(n + DRAW_WARPS - 1) / DRAW_WARPS, 1, 1}, DRAW_WARPS * 32, 0, [&] {
                    sample_draw_v2(img.data(), logits.data(), n, h * w, colors, inv_t, seed, &cursor);
                });
                for (int r = 0; r < n; r++) {
                    if (sub == h * w * colors) break;  // checked below
                    CHECK(v1[r] == v2[r], "T=%g scale %g sub %d row %d: v1 %d, v2 %d", temp, scale, sub, r, v1[r], v2[r]);
                    for (int e = 0; e < h * w * colors; e++) {
                        float want = e == sub ? (float)v1[r] / 255.0f : -1.0f;
                        CHECK(same_bits(img[(size_t)r * h * w * colors + e], want), "draw at %d: row %d element %d = %g, want %g",
                              sub, r, e, img[(size_t)r * h * w * colors + e], want);
                    }
                }
                if (sub == h * w * colors)
                    for (float v : img) CHECK(v == -1.0f, "a cursor past the end wrote %g", v);
            }
        }
}

// With an argument (at, fused or draws) only that part runs.
int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    std::mt19937 rng(7);
    const std::string only = argc > 1 ? argv[1] : "";
    const AtCase cases[] = {
        {5, 6, 5, 7, 3, 48, 3, 0, 0},    {1, 4, 4, 7, 1, 32, 1, 0, 1},   {9, 5, 6, 3, 12, 45, 3, 1, 1},
        {16, 4, 3, 3, 33, 64, 1, 1, 0},  {6, 1, 1, 1, 96, 30, 3, 0, 0},  {10, 1, 1, 1, 384, 192, 3, 1, 1},
        {9, 2, 3, 3, 192, 42, 3, 1, 1},  {3, 1, 1, 1, 2000, 33, 1, 1, 0}, {3, 2, 2, 3, 900, 33, 3, 1, 0},
    };
    for (const AtCase& c : cases) {
        if (only != "" && only != "at") break;
        std::printf("maskedconv_at_v2 n%d %dx%d k%d %d->%d colors %d mask %c relu %d\n", c.n, c.h, c.w, c.k, c.in,
                    c.out, c.colors, c.mask_b ? 'B' : 'A', c.relu);
        check_at(c, rng);
    }
    if (only == "" || only == "fused") {
        std::printf("fused epilogues\n");
        check_fused(rng);
    }
    if (only == "" || only == "draws") {
        std::printf("draws\n");
        check_draws(rng);
    }
    if (failures) {
        std::printf("FAIL: %d mismatches\n", failures);
        return 1;
    }
    std::printf("PASS\n");
    return 0;
}
