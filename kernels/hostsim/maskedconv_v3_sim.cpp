// maskedconv_v3_sim.cpp — runs the version 3 (TF32 tensor-core) masked-conv kernels of
// kernels/maskedconv.cu on the CPU, to check their index arithmetic where no GPU is at hand.
//
//   g++ -std=c++20 -O1 -g -fsanitize=address,undefined -pthread -I kernels -Wno-unknown-pragmas \
//       -o /tmp/v3sim kernels/hostsim/maskedconv_v3_sim.cpp && /tmp/v3sim [case-substring|cifar]
//
// The default cases take about 15 minutes on two shared cores (nearly all of it thread
// switching at the emulated barriers); "cifar" (two cifar10-sized layers) about 30 more.
//
// The .cu file is compiled as host C++ with the emulation of cuda_host.h (which says what is
// emulated, how each emulation can catch a bug, and its limits): each block of the version 3
// kernels runs as 128 OS threads; cp.async poisons its destination until its group is waited
// for and counts every copy from a masked weight (must be 0); mma.sync rebuilds the warp's
// fragments from all lanes with the PTX ISA's layout and aborts on an operand not rounded to
// TF32.
// Each kernel is checked against a float64 reference on TF32-rounded operands (so only the
// summation order differs), with NaN in every masked weight, NaN-poisoned outputs and dW
// partials, and both the 16-byte (vec = 1) and the 4-byte-only (vec = 0) load paths.
#include <random>
#include <string>

#include "cuda_host.h"

#include "maskedconv.cu"

// ---- the reference -------------------------------------------------------------------------
struct Case {
    std::string name;
    int n, h, w, k, in, out, colors, mask_b, relu;
};

struct Geo {
    Case c;
    int taps() const { return (c.k * c.k - 1) / 2; }
    int M() const { return c.n * c.h * c.w; }
    int kw() const { return (taps() + 1) * c.in; }
    // live(t, ci, o): weight [t][ci][o] (t <= taps) is unmasked, from nn.Mask's rule.
    bool live(int t, int ci, int o) const {
        if (t < taps()) return true;
        const int gi = c.in / c.colors, go = c.out / c.colors;
        const int lim = c.mask_b ? (o / go + 1) * gi : (o / go) * gi;
        return ci < lim;
    }
    // src(m, t): position m shifted by tap t, or -1 outside the image.
    int src(int m, int t) const {
        const int r = c.k / 2, dy = t / c.k - r, dx = t % c.k - r;
        const int wq = m % c.w, hq = (m / c.w) % c.h;
        if (hq + dy < 0 || hq + dy >= c.h || wq + dx < 0 || wq + dx >= c.w) return -1;
        return m + dy * c.w + dx;
    }
};

static int g_failures = 0;

// check compares got with ref within tol*(scale + |ref|) (scale: the sum of |terms|).
static void check(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref,
                  const std::vector<double>& scale) {
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        const double err = std::fabs((double)got[i] - ref[i]);
        const double bound = 1e-6 * (scale[i] + 1e-3);
        worst = std::max(worst, err / (scale[i] + 1e-3));
        if (!(err <= bound)) {
            if (bad < 5) std::printf("  %s[%zu] = %.9g, want %.9g\n", what.c_str(), i, got[i], ref[i]);
            bad++;
        }
    }
    std::printf("  %-10s %zu values, worst |err|/sum|terms| %.2e%s\n", what.c_str(), ref.size(), worst,
                bad ? " FAIL" : "");
    if (bad) g_failures++;
}

// check_bias_v3: dB version 3 on ragged slices. relu_mask_bias_v3 writes relu_mask_v3's dz
// bit for bit and the same transposed partials as bias_partial_v3, which are version 2's
// (bias_backward_partial) transposed, bit for bit; reduce_bias_v3 adds them into a pre-filled
// db within float rounding of a float64 reference.
static void check_bias_v3(const Case& c, int M, const std::vector<float>& dy, const std::vector<float>& y,
                          const std::vector<float>& dz) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const int slice = 5, slices = cdiv(M, slice);
    std::vector<float> dz2(dz.size(), nan), fused(slices * c.out, nan), plain(slices * c.out, nan),
        v2(slices * c.out, nan);
    if (c.relu) {
        launch({cdiv(c.out, 256), slices, 1}, 256, [&] {
            relu_mask_bias_v3(dz2.data(), fused.data(), dy.data(), y.data(), M, c.out, slice, slices);
        });
    } else {
        dz2 = dz;  // no fused pass without a ReLU
    }
    launch({cdiv(c.out, 256), slices, 1}, 256, [&] {
        bias_partial_v3(plain.data(), dy.data(), y.data(), c.relu, M, c.out, slice, slices);
    });
    if (!c.relu) fused = plain;
    launch({cdiv(c.out, 256), slices, 1}, 256, [&] {
        bias_backward_partial(v2.data(), dy.data(), y.data(), c.relu, M, c.out, slice);
    });
    bool same = std::memcmp(dz2.data(), dz.data(), dz.size() * 4) == 0 &&
                std::memcmp(fused.data(), plain.data(), fused.size() * 4) == 0;
    for (int s = 0; s < slices; s++)
        for (int o = 0; o < c.out; o++)
            same = same && std::memcmp(&plain[(size_t)o * slices + s], &v2[(size_t)s * c.out + o], 4) == 0;
    if (!same) {
        std::printf("  relu_mask_bias_v3 / bias_partial_v3 differ from relu_mask_v3 / bias_backward_partial\n");
        g_failures++;
    }
    std::vector<float> db(c.out);
    std::vector<double> ref(c.out), scale(c.out);
    for (int o = 0; o < c.out; o++) db[o] = 0.25f * (o % 7) - 0.5f, ref[o] = db[o], scale[o] = std::fabs(db[o]);
    for (int m = 0; m < M; m++)
        for (int o = 0; o < c.out; o++) ref[o] += dz[(size_t)m * c.out + o], scale[o] += std::fabs(dz[(size_t)m * c.out + o]);
    launch({cdiv(c.out, 8), 1, 1}, 256, [&] { reduce_bias_v3(db.data(), fused.data(), slices, c.out); });
    check("db", db, ref, scale);
}

static void run_case(const Case& c, int vec, std::mt19937& rng) {
    Geo G{c};
    const int M = G.M(), kw = G.kw(), taps = G.taps();
    std::uniform_real_distribution<float> U(-1, 1);
    auto rnd = [&](size_t n) {
        std::vector<float> v(n);
        for (auto& e : v) e = U(rng);
        return v;
    };
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> x = rnd((size_t)M * c.in), w = rnd((size_t)c.k * c.k * c.in * c.out), bias = rnd(c.out),
                       dy = rnd((size_t)M * c.out);
    // Weights: only rows kk < kw (taps up to the centre) are the live matrix; masked entries
    // and taps after the centre hold NaN and are forbidden.
    std::vector<char> forbidden(w.size(), 0);
    for (int t = 0; t < c.k * c.k; t++)
        for (int ci = 0; ci < c.in; ci++)
            for (int o = 0; o < c.out; o++) {
                const size_t i = ((size_t)t * c.in + ci) * c.out + o;
                if (t > taps || !G.live(t, ci, o)) forbidden[i] = 1, w[i] = nan;
            }
    g_forbidden_base = w.data();
    g_forbidden = &forbidden;
    g_forbidden_reads = 0;
    std::printf("%s (N%d %dx%d k%d %d->%d colours %d mask %s relu %d) vec %d\n", c.name.c_str(), c.n, c.h, c.w,
                c.k, c.in, c.out, c.colors, c.mask_b ? "B" : "A", c.relu, vec);

    // forward
    std::vector<float> y(M * (size_t)c.out, nan);
    launch({cdiv(M, V3_BM), cdiv(c.out, V3_BN), 1}, V3_THREADS, [&] {
        maskedconv_forward_v3(y.data(), x.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                              c.colors, c.mask_b, c.relu, 0, 1, vec, nullptr, nullptr);
    });
    // With a residual (MaskedConvResidual): the same y, and sum = res + y, bit for bit.
    {
        std::vector<float> res = rnd(y.size()), y2(y.size(), nan), sum(y.size(), nan);
        launch({cdiv(M, V3_BM), cdiv(c.out, V3_BN), 1}, V3_THREADS, [&] {
            maskedconv_forward_v3(y2.data(), x.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                  c.colors, c.mask_b, c.relu, 0, 1, vec, res.data(), sum.data());
        });
        bool same = std::memcmp(y2.data(), y.data(), y.size() * 4) == 0;
        for (size_t i = 0; i < y.size() && same; i++) {
            const float want = res[i] + y[i];
            same = std::memcmp(&sum[i], &want, 4) == 0;
        }
        if (!same) {
            std::printf("  forward with a residual: y or sum differs\n");
            g_failures++;
        }
    }
    std::vector<double> yref(y.size()), yscale(y.size());
    for (int m = 0; m < M; m++)
        for (int o = 0; o < c.out; o++) {
            double s = bias[o], a = std::fabs(bias[o]);
            for (int t = 0; t <= taps; t++) {
                const int q = G.src(m, t);
                if (q < 0) continue;
                for (int ci = 0; ci < c.in; ci++) {
                    if (!G.live(t, ci, o)) continue;
                    const double p = (double)round_tf32(x[(size_t)q * c.in + ci]) *
                                     round_tf32(w[((size_t)t * c.in + ci) * c.out + o]);
                    s += p, a += std::fabs(p);
                }
            }
            yref[(size_t)m * c.out + o] = c.relu ? std::max(s, 0.0) : s;
            yscale[(size_t)m * c.out + o] = a;
        }
    check("y", y, yref, yscale);

    // backward: dz = dy masked by the ReLU of the kernel's own y (as the backend does).
    std::vector<float> dz(dy.size());
    if (c.relu) {
        launch({cdiv((int)dz.size(), 256), 1, 1}, 256, [&] { relu_mask_v3(dz.data(), dy.data(), y.data(), (int)dz.size()); });
        for (size_t i = 0; i < dz.size(); i++)
            if (dz[i] != (y[i] > 0 ? dy[i] : 0.0f)) {
                std::printf("  relu_mask_v3[%zu] wrong\n", i);
                g_failures++;
                break;
            }
    } else {
        dz = dy;
    }
    check_bias_v3(c, M, dy, y, dz);

    // dX accumulates into a pre-filled buffer.
    std::vector<float> dx0 = rnd(x.size()), dx = dx0;
    launch({cdiv(M, V3_BM), cdiv(c.in, V3_BN), 1}, V3_THREADS, [&] {
        maskedconv_backward_dx_v3(dx.data(), dz.data(), w.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                                  c.mask_b, c.relu, 0, 1, vec, 1);
    });
    // A fresh dx (accumulate 0) is written, never read: into NaN it gives, bit for bit, what
    // accumulating into zeros gives.
    {
        std::vector<float> fresh(x.size(), nan), zeros(x.size(), 0.0f);
        for (auto [buf, acc] : {std::pair{&fresh, 0}, std::pair{&zeros, 1}})
            launch({cdiv(M, V3_BM), cdiv(c.in, V3_BN), 1}, V3_THREADS, [&] {
                maskedconv_backward_dx_v3(buf->data(), dz.data(), w.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                          c.colors, c.mask_b, c.relu, 0, 1, vec, acc);
            });
        if (std::memcmp(fresh.data(), zeros.data(), fresh.size() * 4) != 0) {
            std::printf("  dx with accumulate 0 differs from dx accumulated into zeros\n");
            g_failures++;
        }
    }
    std::vector<double> dxref(dx.size()), dxscale(dx.size());
    for (size_t i = 0; i < dx.size(); i++) dxref[i] = dx0[i], dxscale[i] = std::fabs(dx0[i]);
    for (int m = 0; m < M; m++)
        for (int t = 0; t <= taps; t++) {
            const int q = G.src(m, t);
            if (q < 0) continue;
            for (int ci = 0; ci < c.in; ci++)
                for (int o = 0; o < c.out; o++) {
                    if (!G.live(t, ci, o)) continue;
                    const double p = (double)round_tf32(dz[(size_t)m * c.out + o]) *
                                     round_tf32(w[((size_t)t * c.in + ci) * c.out + o]);
                    dxref[(size_t)q * c.in + ci] += p, dxscale[(size_t)q * c.in + ci] += std::fabs(p);
                }
        }
    check("dx", dx, dxref, dxscale);

    // dW: partials over slices (a short slice length, so that several slices and a ragged
    // last one are exercised), then the fixed-order reduction into a pre-filled dw.
    const int slice_len = std::max(V3_BK, cdiv(cdiv(M, 3), V3_BK) * V3_BK);
    const int slices = cdiv(M, slice_len);
    std::vector<float> partial((size_t)slices * kw * c.out, nan);
    launch({cdiv(kw, V3_BM), cdiv(c.out, V3_BN), slices}, V3_THREADS, [&] {
        maskedconv_backward_dw_v3(partial.data(), dz.data(), x.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                                  c.mask_b, c.relu, 0, 1, slice_len, vec);
    });
    std::vector<float> dw0 = rnd(w.size()), dw = dw0;
    launch({cdiv(kw * c.out, 256), 1, 1}, 256, [&] {
        maskedconv_reduce_dw(dw.data(), partial.data(), slices, c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                             c.mask_b, c.relu, 0, 1);
    });
    std::vector<double> dwref(dw.size()), dwscale(dw.size());
    for (size_t i = 0; i < dw.size(); i++) dwref[i] = dw0[i], dwscale[i] = std::fabs(dw0[i]);
    for (int m = 0; m < M; m++)
        for (int t = 0; t <= taps; t++) {
            const int q = G.src(m, t);
            if (q < 0) continue;
            for (int ci = 0; ci < c.in; ci++)
                for (int o = 0; o < c.out; o++) {
                    if (!G.live(t, ci, o)) continue;
                    const size_t wi = ((size_t)t * c.in + ci) * c.out + o;
                    const double p = (double)round_tf32(x[(size_t)q * c.in + ci]) * round_tf32(dz[(size_t)m * c.out + o]);
                    dwref[wi] += p, dwscale[wi] += std::fabs(p);
                }
        }
    // Masked entries must be untouched: the reference keeps dw0 there.
    check("dw", dw, dwref, dwscale);
    if (g_forbidden_reads) {
        std::printf("  %ld reads of masked weights FAIL\n", (long)g_forbidden_reads);
        g_failures++;
    }
    g_forbidden = nullptr;
}

int main(int argc, char** argv) {
    std::vector<Case> cases = {
        // name, n, h, w, k, in, out, colors, mask_b, relu
        {"k1-ragged", 2, 5, 7, 1, 8, 12, 3, 1, 1},
        {"k3A-mixed-quads", 2, 6, 6, 3, 6, 6, 3, 0, 0},
        {"k3B-c2-mixed-quads", 2, 5, 5, 3, 4, 12, 2, 1, 1},
        {"input7x7", 2, 8, 8, 7, 3, 24, 3, 0, 1},
        {"input7x7-c1", 1, 5, 7, 7, 1, 9, 1, 0, 0},
        {"k1A-c1-nothing-live", 2, 3, 4, 1, 6, 9, 1, 0, 1},
        {"small-image-k7", 1, 2, 3, 7, 3, 6, 3, 1, 0},
        {"mid3x3-2blocks", 3, 9, 7, 3, 24, 24, 3, 1, 1},
        {"wide-1x1", 1, 12, 12, 1, 192, 72, 3, 1, 1},
        {"odd3x3", 2, 7, 5, 3, 33, 66, 1, 0, 1},
        // Slow (minutes): run with the argument "cifar".
        {"cifar3x3", 1, 8, 8, 3, 192, 192, 3, 1, 1},
        {"cifar1x1-384-192", 1, 6, 6, 1, 384, 192, 3, 1, 1},
    };
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::string only = argc > 1 ? argv[1] : "";
    std::mt19937 rng(7);
    for (const Case& c : cases) {
        // An argument selects the cases whose name contains it; none: all but the cifar ones.
        if (only.empty() ? c.name.rfind("cifar", 0) == 0 : c.name.find(only) == std::string::npos) continue;
        for (int vec : {1, 0}) run_case(c, vec, rng);
    }
    std::printf("16-byte copies %ld, 4-byte copies %ld\n", (long)g_copies16, (long)g_copies4);
    if (g_failures) {
        std::printf("FAIL: %d checks\n", g_failures);
        return 1;
    }
    std::printf("ok\n");
    return 0;
}
