// gated_sim.cpp — runs the masked-conv kernels (kernels/maskedconv.cu, versions 1-3, and the
// per-position kernels of kernels/position.cu) on every tap region and dilation, and the gated
// ops of kernels/gated.cu, on the CPU, against plain C++ double references, where no GPU is
// at hand.
//
//   g++ -std=c++20 -O1 -g -fsanitize=address,undefined -pthread -I kernels -Wno-unknown-pragmas \
//       -o /tmp/gatedsim kernels/hostsim/gated_sim.cpp && nice -n 19 /tmp/gatedsim [case-substring|gated]
//
// (a few minutes on a loaded 2-core machine; an argument runs the conv cases whose name
// contains it, "gated" only the gate, ELU and class-bias checks.)
//
// The .cu files are compiled as host C++ with the emulation of cuda_host.h (which says what is
// emulated, how each emulation can catch a bug, and its limits): each block runs as blockDim OS
// threads with a real barrier for __syncthreads; cp.async poisons its destination until the
// group is waited for, reads its source only when valid (AddressSanitizer flags a read past a
// tensor) and counts every copy from a masked weight; mma.sync m16n8k8 rebuilds the warp's
// fragments from all lanes with the PTX ISA's layout and aborts on an operand not rounded to
// TF32. fmaf is the C library's (correctly rounded, as on the GPU).
//
// Conv checks, for the seed's causal K x K and the gated stacks' row (1 x K), rows-above,
// rows-above-and-row and unmasked 1 x 1 tap sets, dilations 1, 2 and 4 (4 reaching past the
// 5 x 6 images), one and three colours, masks A and B, with and without ReLU, and feature
// counts that take version 3's 4-byte (6 -> 12) and 16-byte (12 -> 24) load paths:
//   - the reference knows the regions only from their definition (nn/mask.go's comments: which
//     kernel positions are read, the colour rule at the centre), not from the kernels' tap
//     prefix; every masked weight (and every position after the live ones) holds NaN;
//   - forward versions 1 and 2, dX, dW and dB versions 1 and 2 within 4*K*2^-24 * sum|terms|
//     (K terms; gradients accumulate into pre-filled buffers); version 3 (TF32) the same against
//     the reference on TF32-rounded operands, whose products are exact;
//   - forward versions 1 and 2 agree bit for bit, and maskedconv_at_v1 and maskedconv_at_v2
//     give those bits at corners and the middle while every input the position must not read
//     for its region (later rows, the rest of its row, the centre's last colour under mask A)
//     is NaN;
//   - dX with accumulate 0 into NaN equals dX accumulated into zeros, bit for bit (v2, v3);
//   - masked dW entries and the rows after the live ones are untouched; version 3 reads no
//     masked weight (counted at the cp.async).
// Gated checks: the gate (odd widths, one and three colours) and its backward, ELU (0, -30,
// large values) and its backward, the class bias with repeated and unused labels over several
// ragged slices of positions; its backward twice gives the same bits, and a class no image
// has keeps its gradient's bits.
#include <random>
#include <string>
#include <tuple>

#include "cuda_host.h"

#include "maskedconv.cu"
#include "position.cu"
#include "gated.cu"

static const float NaN = std::numeric_limits<float>::quiet_NaN();
static int g_failures = 0;

static void fail(const char* fmt, const std::string& what, size_t i, double got, double want) {
    std::printf(fmt, what.c_str(), i, got, want);
    g_failures++;
}

static bool same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
    for (size_t i = 0; i < a.size(); i++)
        if (f2u(a[i]) != f2u(b[i])) {
            fail("  %s: element %zu = %.9g, want the bits of %.9g\n", what, i, a[i], b[i]);
            return false;
        }
    return true;
}

// check: |got - ref| <= 4*K*2^-24 * scale (+ a denormal floor), K the term count, scale the sum
// of |terms| (a pre-filled value counts as a term): the FP32 accumulation bound of any
// summation order, with a factor 2 for truncating tensor-core adds and 2 to spare.
static void check(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref,
                  const std::vector<double>& scale, int terms) {
    const double tol = 4.0 * terms * std::ldexp(1.0, -24);
    int bad = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        const double err = std::fabs((double)got[i] - ref[i]);
        if (!(err <= tol * scale[i] + 1e-30)) {
            if (bad < 5) fail("  %s[%zu] = %.9g, want %.9g\n", what, i, got[i], ref[i]);
            bad++;
        }
    }
    if (bad > 5) std::printf("  %s: %d mismatches in all\n", what.c_str(), bad);
}

// ---- conv cases and the reference ----------------------------------------------------------
struct Case {
    std::string name;
    int region, k, dil, colors, mask_b, relu;
    int n, h, w, in, out;
};

// Ref is the conv's definition: which kernel positions (ky, kx) of the [KH, K] kernel are
// read, and where, written from the regions' descriptions, not from the kernels' tap prefix.
struct Ref {
    Case c;
    int kh() const { return c.region == REGION_ROW ? 1 : c.k; }
    // colour(ci, o): the centre's rule, input colour <= output colour (B) or < (A).
    bool colour(int ci, int o) const {
        const int ic = ci / (c.in / c.colors), oc = o / (c.out / c.colors);
        return c.mask_b ? ic <= oc : ic < oc;
    }
    bool live(int ky, int kx, int ci, int o) const {
        const int ry = kh() / 2, rx = c.k / 2;
        switch (c.region) {
        case REGION_CAUSAL:  // rows above; left of the centre; the centre by colour
            return ky < ry || (ky == ry && (kx < rx || (kx == rx && colour(ci, o))));
        case REGION_ROW:  // left of the centre; the centre by colour
            return kx < rx || (kx == rx && colour(ci, o));
        case REGION_ABOVE:
            return ky < ry;
        case REGION_ABOVE_ROW:
            return ky <= ry;
        case REGION_FULL:
            return true;
        }
        std::abort();
    }
    // src: position m shifted by kernel position (ky, kx) with the dilation, -1 outside.
    int src(int m, int ky, int kx) const {
        const int dy = (ky - kh() / 2) * c.dil, dx = (kx - c.k / 2) * c.dil;
        const int wq = m % c.w, hq = (m / c.w) % c.h;
        if (hq + dy < 0 || hq + dy >= c.h || wq + dx < 0 || wq + dx >= c.w) return -1;
        return m + dy * c.w + dx;
    }
    size_t widx(int ky, int kx, int ci, int o) const { return (((size_t)ky * c.k + kx) * c.in + ci) * c.out + o; }
    // hidden(m, q, f): position m must not read feature f of position q (for the at checks):
    // neither a position the region never reaches nor, at the centre, a colour it may not read.
    bool hidden(int m, int q, int f) const {
        const int mh = (m / c.w) % c.h, mw = m % c.w, qh = (q / c.w) % c.h, qw = q % c.w;
        if (q / (c.h * c.w) != m / (c.h * c.w)) return false;  // another image: irrelevant
        switch (c.region) {
        case REGION_CAUSAL:
            if (q != m) return q > m;
            break;
        case REGION_ROW:
            if (q != m) return qh != mh || qw > mw;
            break;
        case REGION_ABOVE:
            return qh >= mh;
        case REGION_ABOVE_ROW:
            return qh > mh;
        case REGION_FULL:
            return false;
        }
        // The centre under the colour rule: mask A never reads the last colour's features.
        return !c.mask_b && f >= c.in - c.in / c.colors;
    }
};

// Sums of one reference: value, sum of |terms|, term count.
struct Sums {
    std::vector<double> v, a;
    int terms = 1;
};

static void run_case(const Case& c, std::mt19937& rng) {
    const Ref R{c};
    ConvGeom g = make_geom(c.n, c.h, c.w, c.in, c.out, c.k, c.colors, c.mask_b, c.relu, c.region, c.dil);
    const int M = c.n * c.h * c.w, kw = conv_kw(g), KH = R.kh();
    std::uniform_real_distribution<float> U(-1, 1);
    auto rnd = [&](size_t n) {
        std::vector<float> v(n);
        for (auto& e : v) e = U(rng);
        return v;
    };
    std::printf("%s: %s k%d dil %d, N%d %dx%d %d->%d, colours %d, mask %c, relu %d, %d live rows\n", c.name.c_str(),
                c.region == REGION_CAUSAL ? "causal" : c.region == REGION_ROW ? "row" : c.region == REGION_ABOVE ? "above" : c.region == REGION_ABOVE_ROW ? "above+row" : "full",
                c.k, c.dil, c.n, c.h, c.w, c.in, c.out, c.colors, c.mask_b ? 'B' : 'A', c.relu, kw);
    std::vector<float> x = rnd((size_t)M * c.in), w = rnd((size_t)KH * c.k * c.in * c.out), bias = rnd(c.out),
                       dy = rnd((size_t)M * c.out);
    std::vector<char> forbidden(w.size(), 0);
    int live_taps = 0;
    for (int ky = 0; ky < KH; ky++)
        for (int kx = 0; kx < c.k; kx++) {
            bool any = false;
            for (int ci = 0; ci < c.in; ci++)
                for (int o = 0; o < c.out; o++)
                    if (!R.live(ky, kx, ci, o)) forbidden[R.widx(ky, kx, ci, o)] = 1, w[R.widx(ky, kx, ci, o)] = NaN;
                    else any = true;
            live_taps += any;
        }
    const int terms = live_taps * c.in + 1;  // the most terms any output or input sums (+ bias)
    // The live matrix must be exactly the live positions (a prefix): rows past kw all masked.
    for (size_t i = (size_t)kw * c.out; i < w.size(); i++)
        if (!forbidden[i]) {
            std::printf("  weight %zu is live but past the kernels' %d live rows\n", i, kw);
            g_failures++;
            break;
        }

    // References: forward on exact and TF32-rounded operands.
    auto fwd_ref = [&](bool tf32) {
        Sums s;
        s.v.assign((size_t)M * c.out, 0), s.a.assign((size_t)M * c.out, 0), s.terms = terms;
        for (int m = 0; m < M; m++)
            for (int o = 0; o < c.out; o++) {
                double v = bias[o], a = std::fabs(bias[o]);
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < c.k; kx++) {
                        const int q = R.src(m, ky, kx);
                        if (q < 0) continue;
                        for (int ci = 0; ci < c.in; ci++) {
                            if (!R.live(ky, kx, ci, o)) continue;
                            float xv = x[(size_t)q * c.in + ci], wv = w[R.widx(ky, kx, ci, o)];
                            if (tf32) xv = round_tf32(xv), wv = round_tf32(wv);
                            v += (double)xv * wv, a += std::fabs((double)xv * wv);
                        }
                    }
                s.v[(size_t)m * c.out + o] = c.relu ? std::max(v, 0.0) : v;
                s.a[(size_t)m * c.out + o] = a;
            }
        return s;
    };
    // Backward references from dz, accumulating onto pre-filled dx0, dw0, db0.
    auto bwd_ref = [&](const std::vector<float>& dz, const std::vector<float>& dx0, const std::vector<float>& dw0,
                       const std::vector<float>& db0, bool tf32, Sums& dx, Sums& dw, Sums& db) {
        dx.v.assign(x.size(), 0), dx.a.assign(x.size(), 0);
        dw.v.assign(w.size(), 0), dw.a.assign(w.size(), 0);
        db.v.assign(c.out, 0), db.a.assign(c.out, 0);
        for (size_t i = 0; i < x.size(); i++) dx.v[i] = dx0[i], dx.a[i] = std::fabs(dx0[i]);
        for (size_t i = 0; i < w.size(); i++) dw.v[i] = dw0[i], dw.a[i] = std::fabs(dw0[i]);
        for (int o = 0; o < c.out; o++) db.v[o] = db0[o], db.a[o] = std::fabs(db0[o]);
        dx.terms = live_taps * c.out + 1, dw.terms = M + 1, db.terms = M + 1;
        for (int m = 0; m < M; m++)
            for (int o = 0; o < c.out; o++) {
                const float d0 = dz[(size_t)m * c.out + o], d = tf32 ? round_tf32(d0) : d0;
                db.v[o] += d0, db.a[o] += std::fabs(d0);  // dB sums the unrounded dz
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < c.k; kx++) {
                        const int q = R.src(m, ky, kx);
                        if (q < 0) continue;
                        for (int ci = 0; ci < c.in; ci++) {
                            if (!R.live(ky, kx, ci, o)) continue;
                            const size_t wi = R.widx(ky, kx, ci, o), xi = (size_t)q * c.in + ci;
                            const float xv = tf32 ? round_tf32(x[xi]) : x[xi], wv = tf32 ? round_tf32(w[wi]) : w[wi];
                            dx.v[xi] += (double)d * wv, dx.a[xi] += std::fabs((double)d * wv);
                            dw.v[wi] += (double)d * xv, dw.a[wi] += std::fabs((double)d * xv);
                        }
                    }
            }
    };
    auto untouched = [&](const std::vector<float>& dw, const std::vector<float>& dw0, const std::string& what) {
        for (size_t i = 0; i < w.size(); i++)
            if (forbidden[i] && f2u(dw[i]) != f2u(dw0[i])) {
                fail("  %s: masked entry %zu changed to %g (was %g)\n", what, i, dw[i], dw0[i]);
                return;
            }
    };
    const Sums y_ref = fwd_ref(false), y_ref3 = fwd_ref(true);

    // ---- forward, versions 1 and 2 (the same bits), and version 3 ----
    std::vector<float> y1(y_ref.v.size(), NaN), y2(y1.size(), NaN), y3(y1.size(), NaN);
    launch({cdiv(M * c.out, 256), 1, 1}, 256, [&] {
        maskedconv_forward_v1(y1.data(), x.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                              c.mask_b, c.relu, c.region, c.dil, nullptr, nullptr);
    });
    check("y v1", y1, y_ref.v, y_ref.a, y_ref.terms);
    launch({cdiv(M, TILE_M), cdiv(c.out, TILE_N), 1}, TILE_THREADS, [&] {
        maskedconv_forward_v2(y2.data(), x.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                              c.mask_b, c.relu, c.region, c.dil, nullptr, nullptr);
    });
    same_bits(y2, y1, "y v2 vs v1");
    const int vec = c.in % 4 == 0 && c.out % 4 == 0;  // the 16-byte paths where the shapes allow
    g_forbidden_base = w.data(), g_forbidden = &forbidden, g_forbidden_reads = 0;
    launch({cdiv(M, V3_BM), cdiv(c.out, V3_BN), 1}, V3_THREADS, [&] {
        maskedconv_forward_v3(y3.data(), x.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                              c.mask_b, c.relu, c.region, c.dil, vec, nullptr, nullptr);
    });
    check("y v3", y3, y_ref3.v, y_ref3.a, y_ref3.terms);

    // ---- per-position: at_v1 and at_v2 give the forward's bits, reading no hidden input ----
    {
        const int L = kw, q = 2 * AT_IMGS * L * 4 <= 48 * 1024 ? 2 : 1;  // as cuda/position.go atQuads
        const int ps[][2] = {{0, 0}, {0, c.w - 1}, {c.h - 1, 0}, {c.h - 1, c.w - 1}, {c.h / 2, c.w / 2}};
        for (const auto& p : ps) {
            const int i = p[0], j = p[1];
            std::vector<float> xp = x;
            for (int img = 0; img < c.n; img++) {
                const int m = (img * c.h + i) * c.w + j;
                for (int qq = img * c.h * c.w; qq < (img + 1) * c.h * c.w; qq++)
                    for (int f = 0; f < c.in; f++)
                        if (R.hidden(m, qq, f)) xp[(size_t)qq * c.in + f] = NaN;
            }
            std::vector<float> want((size_t)c.n * c.out);
            for (int img = 0; img < c.n; img++)
                for (int o = 0; o < c.out; o++)
                    want[(size_t)img * c.out + o] = y1[(((size_t)img * c.h + i) * c.w + j) * c.out + o];
            std::vector<float> a1(want.size(), NaN), a2(want.size(), NaN);
            launch({cdiv(c.n * c.out, 128), 1, 1}, 128, [&] {
                maskedconv_at_v1(a1.data(), xp.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                                 c.mask_b, c.relu, c.region, c.dil, i, j);
            });
            launch({cdiv(c.out, 32), cdiv(c.n, q * AT_IMGS), 1}, q * 32, (size_t)q * AT_IMGS * L * 4, [&] {
                maskedconv_at_v2(a2.data(), xp.data(), w.data(), bias.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                 c.colors, c.mask_b, c.relu, c.region, c.dil, i, j, nullptr, 1, c.w, nullptr, 0, 0);
            });
            const std::string at = "(" + std::to_string(i) + "," + std::to_string(j) + ")";
            same_bits(a1, want, "at_v1 " + at);
            same_bits(a2, want, "at_v2 " + at);
        }
    }

    // ---- backward, versions 1 and 2: dz = dy through the ReLU of y1 ----
    std::vector<float> dz(dy.size());
    for (size_t i = 0; i < dz.size(); i++) dz[i] = c.relu && !(y1[i] > 0) ? 0.0f : dy[i];
    const std::vector<float> dx0 = rnd(x.size()), dw0 = rnd(w.size()), db0 = rnd(c.out);
    Sums dx_ref, dw_ref, db_ref, dx_ref3, dw_ref3, db_ref3;
    bwd_ref(dz, dx0, dw0, db0, false, dx_ref, dw_ref, db_ref);
    bwd_ref(dz, dx0, dw0, db0, true, dx_ref3, dw_ref3, db_ref3);
    {
        std::vector<float> dx = dx0, dw = dw0, db = db0;
        launch({cdiv(M * c.in, 256), 1, 1}, 256, [&] {
            maskedconv_backward_dx_v1(dx.data(), dy.data(), y1.data(), w.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                      c.colors, c.mask_b, c.relu, c.region, c.dil, 1);
        });
        launch({cdiv(kw * c.out, 256), 1, 1}, 256, [&] {
            maskedconv_backward_dw_v1(dw.data(), dy.data(), y1.data(), x.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                      c.colors, c.mask_b, c.relu, c.region, c.dil);
        });
        launch({cdiv(c.out, 256), 1, 1}, 256, [&] { bias_backward_v1(db.data(), dy.data(), y1.data(), c.relu, M, c.out); });
        check("dx v1", dx, dx_ref.v, dx_ref.a, dx_ref.terms);
        check("dw v1", dw, dw_ref.v, dw_ref.a, dw_ref.terms);
        untouched(dw, dw0, "dw v1");
        check("db v1", db, db_ref.v, db_ref.a, db_ref.terms);
    }
    {
        std::vector<float> dx = dx0, dw = dw0, db = db0;
        launch({cdiv(M, TILE_M), cdiv(c.in, TILE_N), 1}, TILE_THREADS, [&] {
            maskedconv_backward_dx_v2(dx.data(), dy.data(), y1.data(), w.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                      c.colors, c.mask_b, c.relu, c.region, c.dil, 1);
        });
        std::vector<float> fresh(x.size(), NaN), zeros(x.size(), 0.0f);
        for (auto [buf, acc] : {std::pair{&fresh, 0}, std::pair{&zeros, 1}})
            launch({cdiv(M, TILE_M), cdiv(c.in, TILE_N), 1}, TILE_THREADS, [&] {
                maskedconv_backward_dx_v2(buf->data(), dy.data(), y1.data(), w.data(), c.n, c.h, c.w, c.in, c.out,
                                          c.k, c.colors, c.mask_b, c.relu, c.region, c.dil, acc);
            });
        same_bits(fresh, zeros, "dx v2 fresh vs into zeros");
        const int slice_len = 2 * TILE_K, slices = cdiv(M, slice_len);
        std::vector<float> partial((size_t)slices * kw * c.out, NaN);
        launch({cdiv(kw, TILE_M), cdiv(c.out, TILE_N), slices}, TILE_THREADS, [&] {
            maskedconv_backward_dw_v2(partial.data(), dy.data(), y1.data(), x.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                      c.colors, c.mask_b, c.relu, c.region, c.dil, slice_len);
        });
        launch({cdiv(kw * c.out, 256), 1, 1}, 256, [&] {
            maskedconv_reduce_dw(dw.data(), partial.data(), slices, c.n, c.h, c.w, c.in, c.out, c.k, c.colors, c.mask_b,
                                 c.relu, c.region, c.dil);
        });
        const int bslice = 7, bslices = cdiv(M, bslice);
        std::vector<float> bpart((size_t)bslices * c.out, NaN);
        launch({cdiv(c.out, 256), bslices, 1}, 256, [&] {
            bias_backward_partial(bpart.data(), dy.data(), y1.data(), c.relu, M, c.out, bslice);
        });
        launch({cdiv(c.out, 256), 1, 1}, 256, [&] { reduce_partials_add(db.data(), bpart.data(), bslices, c.out); });
        check("dx v2", dx, dx_ref.v, dx_ref.a, dx_ref.terms);
        check("dw v2", dw, dw_ref.v, dw_ref.a, dw_ref.terms);
        untouched(dw, dw0, "dw v2");
        check("db v2", db, db_ref.v, db_ref.a, db_ref.terms);
    }
    // ---- backward, version 3 (TF32): dz masked once, dX and dW read it ----
    {
        std::vector<float> dz3(dz.size(), NaN), db = db0;
        const int bslice = 7, bslices = cdiv(M, bslice);
        std::vector<float> bpart((size_t)bslices * c.out, NaN);
        if (c.relu) {
            launch({cdiv(c.out, 256), bslices, 1}, 256, [&] {
                relu_mask_bias_v3(dz3.data(), bpart.data(), dy.data(), y1.data(), M, c.out, bslice, bslices);
            });
            same_bits(dz3, dz, "relu_mask_bias_v3 dz");
        } else {
            dz3 = dy;
            launch({cdiv(c.out, 256), bslices, 1}, 256, [&] {
                bias_partial_v3(bpart.data(), dy.data(), y1.data(), 0, M, c.out, bslice, bslices);
            });
        }
        launch({cdiv(c.out, 8), 1, 1}, 256, [&] { reduce_bias_v3(db.data(), bpart.data(), bslices, c.out); });
        check("db v3", db, db_ref3.v, db_ref3.a, db_ref3.terms);
        std::vector<float> dx = dx0, dw = dw0;
        launch({cdiv(M, V3_BM), cdiv(c.in, V3_BN), 1}, V3_THREADS, [&] {
            maskedconv_backward_dx_v3(dx.data(), dz3.data(), w.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                                      c.mask_b, c.relu, c.region, c.dil, vec, 1);
        });
        std::vector<float> fresh(x.size(), NaN), zeros(x.size(), 0.0f);
        for (auto [buf, acc] : {std::pair{&fresh, 0}, std::pair{&zeros, 1}})
            launch({cdiv(M, V3_BM), cdiv(c.in, V3_BN), 1}, V3_THREADS, [&] {
                maskedconv_backward_dx_v3(buf->data(), dz3.data(), w.data(), c.n, c.h, c.w, c.in, c.out, c.k,
                                          c.colors, c.mask_b, c.relu, c.region, c.dil, vec, acc);
            });
        same_bits(fresh, zeros, "dx v3 fresh vs into zeros");
        const int slice_len = 2 * V3_BK, slices = cdiv(M, slice_len);
        std::vector<float> partial((size_t)slices * kw * c.out, NaN);
        launch({cdiv(kw, V3_BM), cdiv(c.out, V3_BN), slices}, V3_THREADS, [&] {
            maskedconv_backward_dw_v3(partial.data(), dz3.data(), x.data(), c.n, c.h, c.w, c.in, c.out, c.k, c.colors,
                                      c.mask_b, c.relu, c.region, c.dil, slice_len, vec);
        });
        launch({cdiv(kw * c.out, 256), 1, 1}, 256, [&] {
            maskedconv_reduce_dw(dw.data(), partial.data(), slices, c.n, c.h, c.w, c.in, c.out, c.k, c.colors, c.mask_b,
                                 c.relu, c.region, c.dil);
        });
        check("dx v3", dx, dx_ref3.v, dx_ref3.a, dx_ref3.terms);
        check("dw v3", dw, dw_ref3.v, dw_ref3.a, dw_ref3.terms);
        untouched(dw, dw0, "dw v3");
    }
    if (g_forbidden_reads) {
        std::printf("  version 3 read %ld masked weights\n", (long)g_forbidden_reads);
        g_failures++;
    }
    g_forbidden = nullptr;
}

// ---- the gated ops -------------------------------------------------------------------------
static void check_tol(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref, double tol) {
    int bad = 0;
    for (size_t i = 0; i < ref.size(); i++)
        if (!(std::fabs(got[i] - ref[i]) <= tol * (1 + std::fabs(ref[i])))) {
            if (bad++ < 5) fail("  %s[%zu] = %.9g, want %.9g\n", what, i, got[i], ref[i]);
        }
}

static void run_gated(std::mt19937& rng) {
    std::uniform_real_distribution<float> U(-3, 3);
    auto rnd = [&](size_t n, float s) {
        std::vector<float> v(n);
        for (auto& e : v) e = U(rng) * s;
        return v;
    };
    // The gate, over rows of colors groups of a (half features) then g (half features).
    for (auto [rows, half, colors] : {std::tuple{7, 5, 1}, std::tuple{7, 5, 3}, std::tuple{3, 4, 3}}) {
        std::printf("gate rows %d, %d colours of %d\n", rows, colors, half);
        const int f2 = 2 * colors * half, nout = rows * colors * half;
        std::vector<float> x = rnd((size_t)rows * f2, 1), y(nout, NaN), dy = rnd(nout, 0.3f), dx0 = rnd(x.size(), 0.3f);
        x[0] = 30, x[half] = -30;  // saturated tanh and sigmoid
        std::vector<double> yref(nout), dxref(x.size());
        for (size_t i = 0; i < x.size(); i++) dxref[i] = dx0[i];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < colors; c++)
                for (int k = 0; k < half; k++) {
                    const size_t ia = (size_t)r * f2 + 2 * c * half + k, ig = ia + half, o = (size_t)r * colors * half + c * half + k;
                    const double t = std::tanh((double)x[ia]), s = 1 / (1 + std::exp(-(double)x[ig]));
                    yref[o] = t * s;
                    dxref[ia] += dy[o] * (1 - t * t) * s;
                    dxref[ig] += dy[o] * t * s * (1 - s);
                }
        launch({2, 1, 1}, 32, [&] { gate_forward_v1(y.data(), x.data(), rows, half, colors); });
        check_tol("gate", y, yref, 1e-6);
        std::vector<float> dx = dx0;
        launch({2, 1, 1}, 32, [&] { gate_backward_v1(dx.data(), dy.data(), x.data(), rows, half, colors); });
        check_tol("gate dx", dx, dxref, 1e-6);
    }
    {
        std::printf("elu\n");
        std::vector<float> x = rnd(97, 2), y(97, NaN), dy = rnd(97, 1), dx0 = rnd(97, 1);
        x[0] = 0, x[1] = -30, x[2] = 50, x[3] = -1e-6f;
        std::vector<double> yref(97), dxref(97);
        for (int i = 0; i < 97; i++) {
            yref[i] = x[i] > 0 ? x[i] : std::expm1((double)x[i]);
            dxref[i] = dx0[i] + (double)dy[i] * (x[i] > 0 ? 1 : std::exp((double)x[i]));
        }
        launch({2, 1, 1}, 32, [&] { elu_forward_v1(y.data(), x.data(), 97); });
        check_tol("elu", y, yref, 1e-6);
        std::vector<float> dx = dx0;
        launch({2, 1, 1}, 32, [&] { elu_backward_v1(dx.data(), dy.data(), y.data(), 97); });
        check_tol("elu dx", dx, dxref, 1e-6);
    }
    {
        // 5 images of 8x10 positions (3 slices of 32, the last ragged), 7 features; labels
        // repeat (2), and class 1 of 4 is unused.
        const int n = 5, per = 80, f = 7, classes = 4, slice = 32, slices = cdiv(per, slice);
        std::printf("class bias: %d images, %d positions, %d features, %d classes\n", n, per, f, classes);
        const int labels[n] = {2, 0, 3, 2, 2};
        std::vector<float> x = rnd((size_t)n * per * f, 1), table = rnd(classes * f, 1), y(x.size(), NaN),
                           dy = rnd(x.size(), 1), dt0 = rnd(table.size(), 1);
        dt0[1 * f + 3] = -0.0f;  // an unused class keeps even a negative zero
        std::vector<double> yref(x.size()), dtref(table.size()), dtabs(table.size());
        for (size_t i = 0; i < table.size(); i++) dtref[i] = dt0[i], dtabs[i] = std::fabs(dt0[i]);
        for (int img = 0; img < n; img++)
            for (int p = 0; p < per; p++)
                for (int k = 0; k < f; k++) {
                    const size_t i = ((size_t)img * per + p) * f + k;
                    yref[i] = (double)x[i] + table[labels[img] * f + k];
                    dtref[labels[img] * f + k] += dy[i], dtabs[labels[img] * f + k] += std::fabs(dy[i]);
                }
        launch({3, 1, 1}, 64, [&] { add_class_bias_v1(y.data(), x.data(), table.data(), labels, per, f, (int)x.size()); });
        check_tol("class bias", y, yref, 1e-7);
        std::vector<float> runs[2];
        for (auto& dt : runs) {
            dt = dt0;
            std::vector<float> partial((size_t)n * slices * f, NaN);
            launch({cdiv(f, 32), n * slices, 1}, 32, [&] {
                class_bias_partial_v1(partial.data(), dy.data(), per, f, slice, slices);
            });
            launch({cdiv(classes * f, 32), 1, 1}, 32, [&] {
                class_bias_reduce_v1(dt.data(), partial.data(), labels, n, slices, f, classes);
            });
        }
        check("class bias dtable", runs[0], dtref, dtabs, 3 * per + 1);
        same_bits(runs[1], runs[0], "class bias dtable, second run");
        for (int k = 0; k < f; k++)
            if (f2u(runs[0][1 * f + k]) != f2u(dt0[1 * f + k])) {
                fail("  %s: unused class entry %zu changed to %g (was %g)\n", "class bias dtable", 1 * f + k, runs[0][f + k],
                     dt0[f + k]);
                break;
            }
    }
}

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const std::string only = argc > 1 ? argv[1] : "";
    std::vector<Case> cases;
    const struct {
        const char* name;
        int region, k;
    } regions[] = {{"causal", REGION_CAUSAL, 3}, {"row", REGION_ROW, 3}, {"above", REGION_ABOVE, 3},
                   {"aboverow", REGION_ABOVE_ROW, 3}, {"full", REGION_FULL, 1}};
    for (const auto& r : regions)
        for (int dil : {1, 2, 4}) {
            if (r.region == REGION_FULL && dil == 4) continue;  // a 1x1 conv has no offset to dilate
            for (int colors : {1, 3})
                for (int mask_b : {0, 1}) {
                    const bool centre = r.region == REGION_CAUSAL || r.region == REGION_ROW;
                    // Mask A matters at a colour-ruled centre only; elsewhere one case keeps it.
                    if (!centre && mask_b == 0 && !(dil == 1 && colors == 3)) continue;
                    const bool wide = (r.region + dil / 2 + colors + mask_b) % 2 == 0;  // 12 -> 24: v3's 16-byte loads
                    cases.push_back({std::string(r.name) + "-d" + std::to_string(dil) + "-c" + std::to_string(colors) +
                                         (mask_b ? "B" : "A"),
                                     r.region, r.k, dil, colors, mask_b, dil == 2, 2, 5, 6, wide ? 12 : 6, wide ? 24 : 12});
                }
        }
    // The seed's input layer (3 inputs, 4-byte paths) and a dilated 5x5 causal conv.
    cases.push_back({"seed-input7x7A-c3", REGION_CAUSAL, 7, 1, 3, 0, 0, 2, 5, 6, 3, 12});
    cases.push_back({"causal5x5-d2-c3B", REGION_CAUSAL, 5, 2, 3, 1, 1, 1, 6, 7, 6, 12});
    std::mt19937 rng(11);
    int ran = 0;
    for (const Case& c : cases) {
        if (only == "gated" || (!only.empty() && c.name.find(only) == std::string::npos)) continue;
        run_case(c, rng);
        ran++;
    }
    if (only.empty() || only == "gated") run_gated(rng);
    if (g_failures) {
        std::printf("FAIL: %d checks (%d conv cases)\n", g_failures, ran);
        return 1;
    }
    std::printf("ok: %d conv cases (versions 1-3, at_v1, at_v2)%s\n", ran, only.empty() || only == "gated" ? " and the gated ops" : "");
    return 0;
}
