// Package vec holds the float32 vector loops of the CPU backend: element-wise adds, the
// bias+ReLU epilogue, ReLU masks, column sums, scaling and the softmax's exp-and-sum. On
// amd64 with AVX2 and FMA (and OS support for YMM state) they run as Go assembly, otherwise
// as plain Go; both paths give bit-identical results, NaN payloads included where the Go
// compiler's operand order allows (see the tests).
//
// The assembly covers the largest multiple of 8 elements (columns for ColumnSums); the
// remainder runs through the Go loop, so every element sees the same operations either way.
// Functions take the destination's length as n; other slices must be at least that long.
package vec

import "math"

// Add sets d[i] = a[i] + b[i] for i < len(d).
func Add(d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	n := 0
	if useAsm() {
		n = len(d) &^ 7
		if n > 0 {
			addAVX(&d[0], &a[0], &b[0], n)
		}
	}
	addGo(d[n:], a[n:], b[n:])
}

// AddTo sets d[i] += s[i] for i < len(d).
func AddTo(d, s []float32) {
	s = s[:len(d)]
	n := 0
	if useAsm() {
		n = len(d) &^ 7
		if n > 0 {
			addToAVX(&d[0], &s[0], n)
		}
	}
	addToGo(d[n:], s[n:])
}

// BiasAct sets row[i] += bias[i] for i < len(row), then row[i] = max(row[i], 0) when relu.
func BiasAct(row, bias []float32, relu bool) {
	bias = bias[:len(row)]
	n := 0
	if useAsm() {
		n = len(row) &^ 7
		if n > 0 {
			if relu {
				biasReLUAVX(&row[0], &bias[0], n)
			} else {
				addToAVX(&row[0], &bias[0], n)
			}
		}
	}
	biasActGo(row[n:], bias[n:], relu)
}

// ReLU sets d[i] = max(x[i], 0) for i < len(d) (Go's max: NaN stays NaN, -0 becomes +0).
func ReLU(d, x []float32) {
	x = x[:len(d)]
	n := 0
	if useAsm() {
		n = len(d) &^ 7
		if n > 0 {
			reluAVX(&d[0], &x[0], n)
		}
	}
	reluGo(d[n:], x[n:])
}

// ReLUGradAdd sets dx[i] += dy[i] where y[i] > 0, for i < len(dx); other dx[i] keep
// their bits.
func ReLUGradAdd(dx, dy, y []float32) {
	dy, y = dy[:len(dx)], y[:len(dx)]
	n := 0
	if useAsm() {
		n = len(dx) &^ 7
		if n > 0 {
			reluGradAddAVX(&dx[0], &dy[0], &y[0], n)
		}
	}
	reluGradAddGo(dx[n:], dy[n:], y[n:])
}

// ReLUMask sets dz[i] = dy[i] where y[i] has any bit set and +0 elsewhere, for
// i < len(dz). For a ReLU output y (never negative, never -0) that is dy where y > 0.
func ReLUMask(dz, dy, y []float32) {
	dy, y = dy[:len(dz)], y[:len(dz)]
	n := 0
	if useAsm() {
		n = len(dz) &^ 7
		if n > 0 {
			reluMaskAVX(&dz[0], &dy[0], &y[0], n)
		}
	}
	reluMaskGo(dz[n:], dy[n:], y[n:])
}

// ColumnSums accumulates sums[o] += sum over r < rows of m[r*cols+o], for o < cols. Rows
// are taken four at a time as sums[o] + ((r0+r1) + (r2+r3)), then the rest one by one.
func ColumnSums(sums, m []float32, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	sums = sums[:cols]
	_ = m[(rows-1)*cols+cols-1]
	n := 0
	if useAsm() {
		n = cols &^ 7
		if n > 0 {
			columnSumsAVX(&sums[0], &m[0], rows, cols, n)
		}
	}
	if n < cols {
		columnSumsGo(sums[n:], m[n:], rows, cols, cols-n)
	}
}

// Scale sets d[i] *= s.
func Scale(d []float32, s float32) {
	n := 0
	if useAsm() {
		n = len(d) &^ 7
		if n > 0 {
			scaleAVX(&d[0], n, s)
		}
	}
	scaleGo(d[n:], s)
}

// ExpNegSum sets d[k] = ExpNeg(l[k] - m) for k < len(d) and returns the float64 sum of
// the d[k], added in index order.
func ExpNegSum(d, l []float32, m float32) float64 {
	l = l[:len(d)]
	n := 0
	var z float64
	if useAsm() {
		n = len(d) &^ 7
		if n > 0 {
			z = expNegSumAVX(&d[0], &l[0], n, m)
		}
	}
	return expNegSumGo(d[n:], l[n:], m, z)
}

// Max returns the largest element of l (len(l) > 0) as m = l[0]; m = max(m, v) over the rest
// would: NaN if any element is NaN, +0 over -0.
func Max(l []float32) float32 {
	n := 0
	var m float32
	if useAsm() && len(l) >= 8 {
		var nan bool
		n = len(l) &^ 7
		// Without NaNs a non-zero maximum has one bit pattern, so VMAXPS's order of
		// comparisons cannot change it; otherwise take the Go loop from the start.
		if m, nan = maxAVX(&l[0], n); nan || m == 0 {
			n = 0
		}
	}
	if n == 0 {
		m = l[0]
		n = 1
	}
	return maxGo(m, l[n:])
}

func maxGo(m float32, l []float32) float32 {
	for _, v := range l {
		m = max(m, v)
	}
	return m
}

// ExpNeg returns e^x for x <= 0 in float32 (Cephes' expf: range reduction x = k ln2 + r,
// |r| <= ln2/2, and a degree-6 polynomial; about 1 ulp); 0 below -87.3. The explicit
// float32 conversions keep every product rounded on its own (the spec lets a compiler fuse
// x*y+z otherwise), matching the assembly.
func ExpNeg(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	k := float32(math.Floor(float64(float32(x*1.44269504088896341) + 0.5)))
	r := float32(x-float32(k*0.693359375)) + float32(k*2.12194440e-4)
	p := float32(1.9875691500e-4)
	p = float32(p*r) + 1.3981999507e-3
	p = float32(p*r) + 8.3334519073e-3
	p = float32(p*r) + 4.1665795894e-2
	p = float32(p*r) + 1.6666665459e-1
	p = float32(p*r) + 5.0000001201e-1
	e := float32(float32(float32(p*r)*r)+r) + 1
	return e * math.Float32frombits(uint32(int32(k)+127)<<23)
}

func addGo(d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i]
	}
}

func addToGo(d, s []float32) {
	s = s[:len(d)]
	for i, v := range s {
		d[i] += v
	}
}

func biasActGo(row, bias []float32, relu bool) {
	bias = bias[:len(row)]
	if relu {
		for o := range row {
			row[o] = max(row[o]+bias[o], 0)
		}
		return
	}
	for o := range row {
		row[o] += bias[o]
	}
}

func reluGo(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = max(v, 0)
	}
}

func reluGradAddGo(dx, dy, y []float32) {
	dy, y = dy[:len(dx)], y[:len(dx)]
	for i, v := range y {
		if v > 0 {
			dx[i] += dy[i]
		}
	}
}

// reluMaskGo is branch-free: a data-dependent branch on y mispredicts about half the time.
func reluMaskGo(dz, dy, y []float32) {
	dy, y = dy[:len(dz)], y[:len(dz)]
	for i, v := range y {
		b := math.Float32bits(v)
		keep := -((b | -b) >> 31) // all ones when b != 0
		dz[i] = math.Float32frombits(math.Float32bits(dy[i]) & keep)
	}
}

// columnSumsGo sums columns [0, width) of m (row stride cols) into sums[:width].
func columnSumsGo(sums, m []float32, rows, cols, width int) {
	sums = sums[:width]
	r := 0
	for ; r+4 <= rows; r += 4 {
		r0 := m[r*cols : r*cols+width]
		r1 := m[(r+1)*cols : (r+1)*cols+width]
		r2 := m[(r+2)*cols : (r+2)*cols+width]
		r3 := m[(r+3)*cols : (r+3)*cols+width]
		for o := range sums {
			sums[o] += (r0[o] + r1[o]) + (r2[o] + r3[o])
		}
	}
	for ; r < rows; r++ {
		row := m[r*cols : r*cols+width]
		for o, v := range row {
			sums[o] += v
		}
	}
}

func scaleGo(d []float32, s float32) {
	for i := range d {
		d[i] *= s
	}
}

func expNegSumGo(d, l []float32, m float32, z float64) float64 {
	l = l[:len(d)]
	for k, v := range l {
		e := ExpNeg(v - m)
		d[k] = e
		z += float64(e)
	}
	return z
}
