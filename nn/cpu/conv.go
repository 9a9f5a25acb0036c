package cpu

import (
	"pixelcnn/nn"
	"pixelcnn/nn/cpu/vec"
)

// A masked k x k convolution over NHWC activations is a GEMM whose rows are the N*H*W
// positions. In the [K, K, In, Out] weight layout the fully unmasked taps (rows above the
// centre, and left of it in the centre row) are the first Taps() kernel positions and the
// centre is the next one, so W[0 : (Taps+1)*In*Out] read as a [(Taps+1)*In, Out] matrix holds
// every live weight, and the taps after the centre are never touched. The im2col matrix puts
// each position's unmasked-tap inputs first and its own (centre) inputs last; since output
// colour group j may read only a prefix of the centre inputs (CentreInLimit), group j's GEMM
// simply uses a shorter inner dimension. A 3x3 mask-B layer does 5 of 9 taps' work; a 7x7
// mask-A layer 24 of 49 plus the allowed centre blocks.

// convShape holds the dimensions of one conv call (validated by nn.CheckConv and friends).
type convShape struct {
	spec      nn.ConvSpec
	n, h, w   int
	m         int // positions N*H*W
	taps      int
	kLive     int // columns of the im2col matrix: Taps*In plus the centre's In (HasCentre)
	tapsWidth int // Taps*In
	og        int // output features per colour group
	nChunks   int // chunks of positions, a multiple of the workers where there are enough
	rows      int // positions in the largest chunk (chunkRange)
	runs      []tapRun
}

// newConvShape returns the geometry of a conv over x [N,H,W,In] split over workers; the
// caller has validated the call.
func newConvShape(spec nn.ConvSpec, x *nn.Tensor, workers int) convShape {
	xs := x.Shape
	s := convShape{spec: spec, n: xs[0], h: xs[1], w: xs[2], taps: spec.Taps(), runs: tapRuns(spec)}
	s.m = s.n * s.h * s.w
	s.tapsWidth = s.taps * spec.In
	s.kLive = s.tapsWidth + spec.CentreWidth()
	s.og = spec.Out / spec.Colors
	// Keep a chunk's im2col block around 512 KiB so it stays in L2 while the GEMM reads it,
	// with a chunk count that is a multiple of the workers so that none of them idles at the
	// end (13 chunks on 2 workers left one core idle for a 14th of the layer).
	target := min(1024, max(64, (128<<10)/s.kLive))
	s.nChunks = (s.m + target - 1) / target
	s.nChunks = max(1, min(s.m, (s.nChunks+workers-1)/workers*workers))
	s.rows = (s.m + s.nChunks - 1) / s.nChunks
	return s
}

func (s convShape) chunks() int { return s.nChunks }

// chunkRange returns chunk c's first position and its position count: the m positions split
// into nChunks near-equal runs (sizes differ by at most one).
func (s convShape) chunkRange(c int) (p0, rows int) {
	p0 = c * s.m / s.nChunks
	return p0, (c+1)*s.m/s.nChunks - p0
}

// direct reports whether the im2col row of a position is its own input vector (a 1x1 conv,
// whose one live position is the centre), so x can be the GEMM operand in place.
func (s convShape) direct() bool { return s.spec.K == 1 }

// uniformCentre reports whether every output group reads the same centre prefix (always
// true with one colour), so that the whole layer is one GEMM.
func (s convShape) uniformCentre() bool {
	l := s.spec.CentreInLimit(0)
	for j := 1; j < s.spec.Colors; j++ {
		if s.spec.CentreInLimit(j) != l {
			return false
		}
	}
	return true
}

// tapRun is a run of live taps whose inputs are adjacent both in x (one row, consecutive
// columns) and in the im2col row, so one copy moves them: a 7x7 layer's 24 taps and centre
// are 4 runs, where copying tap by tap would move In floats at a time.
type tapRun struct{ dy, dx, n, col int } // first tap's offset, taps in the run, first column

func tapRuns(spec nn.ConvSpec) []tapRun {
	var runs []tapRun
	add := func(dy, dx, col int) {
		if l := len(runs) - 1; l >= 0 && runs[l].dy == dy && runs[l].dx+runs[l].n == dx {
			runs[l].n++
			return
		}
		runs = append(runs, tapRun{dy, dx, 1, col})
	}
	for t := 0; t < spec.Taps(); t++ {
		dy, dx := spec.TapOffset(t)
		add(dy, dx, t*spec.In)
	}
	if spec.HasCentre() {
		add(0, 0, spec.Taps()*spec.In)
	}
	return runs
}

// im2col fills col ([rows, kLive]) with the inputs of positions [p0, p0+rows): for each
// unmasked tap in order its In features (zero outside the image), then the centre's.
func (s convShape) im2col(col, x []float32, p0, rows int) {
	in := s.spec.In
	for i := 0; i < rows; i++ {
		p := p0 + i
		wq := p % s.w
		hq := (p / s.w) % s.h
		img := p - hq*s.w - wq // first position of this image
		dst := col[i*s.kLive : (i+1)*s.kLive]
		for _, r := range s.runs {
			seg := dst[r.col : r.col+r.n*in]
			hh, lo, hi := hq+r.dy, wq+r.dx, wq+r.dx+r.n // the run reads row hh, columns [lo, hi)
			if hh < 0 || hi <= 0 || lo >= s.w {         // dy <= 0, so hh < h always
				clear(seg)
				continue
			}
			a, b := max(lo, 0), min(hi, s.w)
			clear(seg[:(a-lo)*in])
			src := (img + hh*s.w + a) * in
			copy(seg[(a-lo)*in:(b-lo)*in], x[src:src+(b-a)*in])
			clear(seg[(b-lo)*in:])
		}
	}
}

// MaskedConv implements nn.Backend.
func (b *Backend) MaskedConv(spec nn.ConvSpec, y, x, w, bias *nn.Tensor) error {
	if err := nn.CheckConv(spec, y, x, w, bias); err != nil {
		return err
	}
	mul, err := b.convGemm()
	if err != nil {
		return err
	}
	s := newConvShape(spec, x, b.workers)
	out := spec.Out
	W, copied := b.liveWeights(s, w.Host)
	cols := make([][]float32, b.workers)
	b.parallelAny(s.chunks(), func(worker, c int) {
		p0, rows := s.chunkRange(c)
		if cols[worker] == nil && (!s.direct() || b.tf32()) {
			cols[worker], _ = b.take(s.rows * s.kLive) // im2col writes every column
		}
		a, lda := s.inputRows(cols[worker], x.Host, p0, rows, b.tf32())
		s.gemmCols(mul, rows, a, lda, W, bias.Host, y.Host[p0*out:], 0, out)
	})
	for _, c := range cols {
		b.putBuffer(c)
	}
	if copied {
		b.putBuffer(W)
	}
	return nil
}

// inputRows returns the GEMM's A operand for positions [p0, p0+rows) and its row stride: x
// itself for a 1x1 conv at FP32; otherwise col ([rows, kLive]) filled with the im2col rows
// (a 1x1 conv's are x's), rounded to TF32 when tf32.
func (s convShape) inputRows(col, x []float32, p0, rows int, tf32 bool) ([]float32, int) {
	in := s.spec.In
	if s.direct() && !tf32 {
		return x[p0*in:], in
	}
	if !s.direct() {
		s.im2col(col, x, p0, rows)
	} else {
		copy(col, x[p0*in:(p0+rows)*in])
	}
	if tf32 {
		roundTF32(col[:rows*s.kLive])
	}
	return col, s.kLive
}

// gemmCols computes output columns [o0, o1) of rows positions whose im2col rows are a (row
// stride lda): y[:, o0:o1] = act(a W_live + bias), y with row stride Out, its products formed
// by mul (gemm.Sgemm, or gemm.Bgemm at bf16). The unmasked taps
// are one GEMM; the centre is one GEMM when all colour groups read the same prefix, else one
// per group over its prefix. Sgemm forms each element's sum independently of how many rows
// and columns the call covers, so MaskedConv and MaskedConvAt (the same calls on fewer rows
// or a column range) agree bit for bit; pixelcnn's TestCachedLogits checks it.
func (s convShape) gemmCols(mul gemmFunc, rows int, a []float32, lda int, W, bh, yc []float32, o0, o1 int) {
	spec, out := s.spec, s.spec.Out
	if s.uniformCentre() {
		mul(false, false, rows, o1-o0, s.tapsWidth+spec.CentreInLimit(0), 1, a, lda, W[o0:], out, 0, yc[o0:], out)
	} else {
		mul(false, false, rows, o1-o0, s.tapsWidth, 1, a, lda, W[o0:], out, 0, yc[o0:], out)
		for j := 0; j < spec.Colors; j++ {
			lo, hi := max(o0, j*s.og), min(o1, (j+1)*s.og)
			if lim := spec.CentreInLimit(j); lim > 0 && lo < hi {
				mul(false, false, rows, hi-lo, lim, 1, a[s.tapsWidth:], lda,
					W[s.tapsWidth*out+lo:], out, 1, yc[lo:], out)
			}
		}
	}
	bh = bh[o0:o1]
	for i := 0; i < rows; i++ {
		vec.BiasAct(yc[i*out+o0:i*out+o1], bh, spec.ReLU) // row += bias, then max(., 0) for a ReLU
	}
}

// dcolWrittenWhole reports whether the backward's dX GEMMs write every column of dcol: the
// centre columns a mask A layer never reads (CentreInLimit(0) < In with one GEMM) stay
// unwritten and must start at zero, since the gather adds them into dx.
func (s convShape) dcolWrittenWhole() bool {
	return !s.uniformCentre() || s.tapsWidth+s.spec.CentreInLimit(0) == s.kLive
}

// MaskedConvBackward implements nn.Backend. Per chunk of positions it forms dz (dy through
// the ReLU mask), accumulates dW += col^T dz and dB += colsum(dz) into per-worker partials,
// and computes dcol = dz W^T. The im2col scatter back to dx would race between chunks (a tap
// reads rows above), so dx is then gathered per position in a second parallel pass.
func (b *Backend) MaskedConvBackward(spec nn.ConvSpec, dx, dw, db, dy, x, w, y *nn.Tensor) error {
	return b.maskedConvBackward(spec, dx, dw, db, dy, x, w, y, false)
}

// maskedConvBackward is MaskedConvBackward; with fresh, dx is overwritten instead of
// accumulated into.
func (b *Backend) maskedConvBackward(spec nn.ConvSpec, dx, dw, db, dy, x, w, y *nn.Tensor, fresh bool) error {
	if err := nn.CheckConvBackward(spec, dx, dw, db, dy, x, w, y); err != nil {
		return err
	}
	mul, err := b.convGemm()
	if err != nil {
		return err
	}
	s := newConvShape(spec, x, b.workers)
	if fresh && dx != nil && s.direct() && !s.dcolWrittenWhole() {
		b.Zero(dx) // the dX GEMMs leave some of dx's columns unwritten: accumulate into zeros
		fresh = false
	}
	in, out := spec.In, spec.Out
	W, copied := b.liveWeights(s, w.Host)
	uniform := s.uniformCentre()
	wsLen := s.kLive * out

	type scratch struct{ col, dz, dwPart, dbPart []float32 }
	ws := make([]scratch, b.workers)
	var dcol []float32 // [m, kLive], only for K > 1
	if dx != nil && !s.direct() {
		if s.dcolWrittenWhole() {
			dcol, _ = b.take(s.m * s.kLive)
		} else {
			dcol = b.buffer(s.m * s.kLive)
		}
	}
	b.parallel(s.chunks(), func(worker, c int) {
		sc := &ws[worker]
		if sc.dz == nil {
			sc.dz, _ = b.take(s.rows * out) // written before it is read, like col
			if !s.direct() || b.tf32() {
				sc.col, _ = b.take(s.rows * s.kLive)
			}
			if dw != nil {
				sc.dwPart = b.buffer(wsLen)
			}
			if db != nil {
				sc.dbPart = b.buffer(out)
			}
		}
		p0, rows := s.chunkRange(c)
		dyc := dy.Host[p0*out : (p0+rows)*out]
		dz := dyc // without a ReLU, dz is dy itself
		if spec.ReLU {
			dz = sc.dz[:len(dyc)]
			vec.ReLUMask(dz, dyc, y.Host[p0*out:(p0+rows)*out])
		}
		if db != nil {
			vec.ColumnSums(sc.dbPart[:out], dz, rows, out) // from the unrounded dz at TF32 too
		}
		if b.tf32() { // dz is an operand of both GEMMs
			dz = sc.dz[:len(dyc)]
			if spec.ReLU {
				roundTF32(dz)
			} else {
				for i, v := range dyc {
					dz[i] = nn.RoundTF32(v)
				}
			}
		}
		a, lda := s.inputRows(sc.col, x.Host, p0, rows, b.tf32())
		if dw != nil {
			if uniform {
				mul(true, false, s.tapsWidth+spec.CentreInLimit(0), out, rows, 1, a, lda, dz, out, 1, sc.dwPart, out)
			} else {
				mul(true, false, s.tapsWidth, out, rows, 1, a, lda, dz, out, 1, sc.dwPart, out)
				for j := 0; j < spec.Colors; j++ {
					if lim := spec.CentreInLimit(j); lim > 0 {
						mul(true, false, lim, s.og, rows, 1, a[s.tapsWidth:], lda, dz[j*s.og:], out, 1,
							sc.dwPart[s.tapsWidth*out+j*s.og:], out)
					}
				}
			}
		}
		if dx == nil {
			return
		}
		// d(inputs) = dz W_live^T: straight into dx for a 1x1 conv, into dcol otherwise.
		dst, ldd, beta := dx.Host[p0*in:], in, float32(1)
		if fresh {
			beta = 0
		}
		if !s.direct() {
			dst, ldd, beta = dcol[p0*s.kLive:], s.kLive, 0
		}
		if uniform {
			mul(false, true, rows, s.tapsWidth+spec.CentreInLimit(0), out, 1, dz, out, W, out, beta, dst, ldd)
			return
		}
		mul(false, true, rows, s.tapsWidth, out, 1, dz, out, W, out, beta, dst, ldd)
		// Centre columns: group j contributes to the first CentreInLimit(j) of them. Since
		// limits grow with j, group Colors-1 covers the widest prefix; start from zero there.
		if beta == 0 {
			for i := 0; i < rows; i++ {
				clear(dst[i*ldd+s.tapsWidth : i*ldd+s.kLive])
			}
		}
		for j := 0; j < spec.Colors; j++ {
			if lim := spec.CentreInLimit(j); lim > 0 {
				mul(false, true, rows, lim, s.og, 1, dz[j*s.og:], out, W[s.tapsWidth*out+j*s.og:], out, 1,
					dst[s.tapsWidth:], ldd)
			}
		}
	})

	// Reduce per-worker partials in worker order (deterministic).
	for i := range ws {
		if dw != nil && ws[i].dwPart != nil {
			vec.AddTo(dw.Host[:len(ws[i].dwPart)], ws[i].dwPart)
		}
		if db != nil && ws[i].dbPart != nil {
			vec.AddTo(db.Host[:len(ws[i].dbPart)], ws[i].dbPart)
		}
		b.putBuffer(ws[i].col)
		b.putBuffer(ws[i].dz)
		b.putBuffer(ws[i].dwPart)
		b.putBuffer(ws[i].dbPart)
	}
	if dcol != nil {
		s.col2imGather(b, dx.Host, dcol, fresh)
		b.putBuffer(dcol)
	}
	if copied {
		b.putBuffer(W)
	}
	return nil
}

// col2imGather accumulates dx[p] += sum over live taps t (the centre included) of
// dcol[p - offset(t)][tap t's columns]: each position's gradient gathers from the positions
// that read it, so chunks write disjoint rows of dx and need no locks. With fresh, dx's old
// contents are ignored (the first term is copied, a position nobody read is zeroed), which
// spares the separate pass that would clear dx.
func (s convShape) col2imGather(b *Backend, dx, dcol []float32, fresh bool) {
	in := s.spec.In
	maxTerms := 0
	for _, r := range s.runs {
		maxTerms += r.n
	}
	terms := make([][]int, b.workers)
	b.parallelAny(s.chunks(), func(worker, c int) {
		if terms[worker] == nil {
			terms[worker] = make([]int, 0, maxTerms)
		}
		p0, rows := s.chunkRange(c)
		for p := p0; p < p0+rows; p++ {
			wq := p % s.w
			hq := (p / s.w) % s.h
			img := p - hq*s.w - wq
			// Position q = p - (dy, dx) read p through the tap at (dy, dx); q must be inside
			// the image. The terms are summed in this order (vec.GatherSum).
			offs := terms[worker][:0]
			for _, r := range s.runs {
				hh := hq - r.dy
				if hh >= s.h {
					continue
				}
				for k := 0; k < r.n; k++ {
					ww := wq - r.dx - k
					if ww < 0 || ww >= s.w {
						continue
					}
					offs = append(offs, (img+hh*s.w+ww)*s.kLive+r.col+k*in)
				}
			}
			vec.GatherSum(dx[p*in:(p+1)*in], dcol, offs, !fresh)
		}
	})
}

// MaskedConvBackwardFresh implements nn.FreshGradConv: dx is written, not accumulated into.
func (b *Backend) MaskedConvBackwardFresh(spec nn.ConvSpec, dx, dw, db, dy, x, w, y *nn.Tensor) error {
	return b.maskedConvBackward(spec, dx, dw, db, dy, x, w, y, true)
}

// MaskedConvResidual implements nn.ResidualConv: MaskedConv, then Add (the CPU's Add is
// already a single pass; this is the reference of the fused op's semantics).
func (b *Backend) MaskedConvResidual(spec nn.ConvSpec, y, sum, x, w, bias, res *nn.Tensor) error {
	if err := nn.CheckConvResidual(spec, y, sum, x, w, bias, res); err != nil {
		return err
	}
	if err := b.MaskedConv(spec, y, x, w, bias); err != nil {
		return err
	}
	return b.Add(sum, res, y)
}
