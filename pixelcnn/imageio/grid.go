package imageio

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/draw"
)

// Border is the width in pixels of the grey frame WriteGrid draws between and around cells.
const Border = 2

// BorderGrey is the grey level of that frame.
const BorderGrey = 128

// minCell is the smallest side, in pixels, that automatic scaling aims for: a 28x28 MNIST
// digit at scale 1 is too small to judge by eye.
const minCell = 96

// GridLayout is the geometry WriteGrid uses: Cols x Rows cells, each image scaled by Scale,
// and the total Width x Height of the PNG (Border pixels between and around cells).
type GridLayout struct {
	Cols, Rows, Scale int
	Width, Height     int
}

// NewGridLayout resolves the automatic choices of WriteGrid for n images of h x w pixels:
// cols = 0 gives ceil(sqrt(n)) columns, scale = 0 the smallest integer factor that makes the
// longer side of a cell at least 96 pixels.
func NewGridLayout(n, h, w, cols, scale int) (GridLayout, error) {
	switch {
	case n < 1:
		return GridLayout{}, fmt.Errorf("image count %d must be positive", n)
	case h < 1 || w < 1:
		return GridLayout{}, fmt.Errorf("image size %dx%d must be positive", w, h)
	case cols < 0:
		return GridLayout{}, fmt.Errorf("column count %d must be >= 0 (0 = automatic)", cols)
	case scale < 0:
		return GridLayout{}, fmt.Errorf("scale %d must be >= 0 (0 = automatic)", scale)
	}
	if cols == 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	if scale == 0 {
		scale = max(1, (minCell+max(h, w)-1)/max(h, w))
	}
	l := GridLayout{Cols: cols, Rows: (n + cols - 1) / cols, Scale: scale}
	// Guard each product before forming it, so absurd inputs cannot overflow int.
	if scale > maxPixels/w || scale > maxPixels/h {
		return GridLayout{}, fmt.Errorf("scale %d is too large for %dx%d images", scale, w, h)
	}
	cw, ch := w*scale+Border, h*scale+Border
	if cols > maxPixels/cw || l.Rows > maxPixels/ch {
		return GridLayout{}, fmt.Errorf("grid of %dx%d cells of %dx%d pixels is too large", cols, l.Rows, cw, ch)
	}
	l.Width, l.Height = cols*cw+Border, l.Rows*ch+Border
	return l, nil
}

// Cell returns the pixel rectangle of image i (row-major) inside the grid.
func (l GridLayout) Cell(i, h, w int) image.Rectangle {
	x0 := Border + (i%l.Cols)*(w*l.Scale+Border)
	y0 := Border + (i/l.Cols)*(h*l.Scale+Border)
	return image.Rect(x0, y0, x0+w*l.Scale, y0+h*l.Scale)
}

// WriteGrid tiles n images of h x w x c bytes each (HWC, c = 1 grey or 3 RGB, images
// back to back) into one PNG at path with cols columns, each image enlarged by the integer
// factor scale with nearest-neighbour sampling so pixels stay crisp. cols = 0 and scale = 0
// choose automatically (see NewGridLayout). Cells are framed by a Border-pixel mid-grey
// line; unused cells in the last row are left grey. Grey images give an 8-bit grey PNG, RGB
// images an RGBA one. The write is atomic.
func WriteGrid(path string, images []uint8, n, h, w, c int, cols, scale int) error {
	dst, _, err := gridImage(path, images, n, h, w, c, cols, scale, c == 3)
	if err != nil {
		return err
	}
	return WritePNG(path, dst)
}

// Colours of the completion grid's marks.
var (
	// KeptMark marks, in the frame left and right of every cell, the rows kept from the original.
	KeptMark = color.RGBA{R: 230, G: 40, B: 40, A: 255}
	// OriginalMark frames the original image.
	OriginalMark = color.RGBA{R: 40, G: 110, B: 230, A: 255}
)

// WriteCompletionGrid writes a completion grid: the original image (h x w x c bytes, HWC)
// framed in OriginalMark, then the n completions (images back to back, as WriteGrid takes
// them). The frame beside the first keepRows rows of every cell is KeptMark, so the rows
// given to the model stand apart from the generated ones. The PNG is RGBA; cols and scale
// are as for WriteGrid (of n+1 images).
func WriteCompletionGrid(path string, original, completions []uint8, n, h, w, c, keepRows, cols, scale int) error {
	if len(original) != h*w*c {
		return fmt.Errorf("imageio: %s: original has %d bytes, want %dx%dx%d", path, len(original), h, w, c)
	}
	if keepRows < 0 || keepRows > h {
		return fmt.Errorf("imageio: %s: kept rows %d outside [0, %d]", path, keepRows, h)
	}
	all := append(append(make([]uint8, 0, len(original)+len(completions)), original...), completions...)
	dst, l, err := gridImage(path, all, n+1, h, w, c, cols, scale, true)
	if err != nil {
		return err
	}
	fill := func(r image.Rectangle, col color.Color) {
		draw.Draw(dst, r, image.NewUniform(col), image.Point{}, draw.Src)
	}
	o := l.Cell(0, h, w)
	fill(image.Rect(o.Min.X-Border, o.Min.Y-Border, o.Max.X+Border, o.Max.Y+Border), OriginalMark)
	draw.NearestNeighbor.Scale(dst, o, hwcImage(original, h, w, c), image.Rect(0, 0, w, h), draw.Src, nil)
	for i := 0; i <= n; i++ {
		r := l.Cell(i, h, w)
		y1 := r.Min.Y + keepRows*l.Scale
		fill(image.Rect(r.Min.X-Border, r.Min.Y, r.Min.X, y1), KeptMark)
		fill(image.Rect(r.Max.X, r.Min.Y, r.Max.X+Border, y1), KeptMark)
	}
	return WritePNG(path, dst)
}

// gridImage draws WriteGrid's grid (grey unless rgba).
func gridImage(path string, images []uint8, n, h, w, c, cols, scale int, rgba bool) (draw.Image, GridLayout, error) {
	if c != 1 && c != 3 {
		return nil, GridLayout{}, fmt.Errorf("imageio: %s: channel count %d must be 1 (grey) or 3 (RGB)", path, c)
	}
	l, err := NewGridLayout(n, h, w, cols, scale)
	if err != nil {
		return nil, l, fmt.Errorf("imageio: %s: %w", path, err)
	}
	if want := n * h * w * c; len(images) != want {
		return nil, l, fmt.Errorf("imageio: %s: got %d bytes for %d images of %dx%dx%d, want %d",
			path, len(images), n, h, w, c, want)
	}
	if err := checkSize(path, l.Width, l.Height); err != nil {
		return nil, l, err
	}
	bounds := image.Rect(0, 0, l.Width, l.Height)
	var dst draw.Image
	if rgba {
		dst = image.NewRGBA(bounds)
	} else {
		dst = image.NewGray(bounds)
	}
	draw.Draw(dst, bounds, image.NewUniform(color.Gray{Y: BorderGrey}), image.Point{}, draw.Src)

	size := h * w * c
	for i := 0; i < n; i++ {
		src := hwcImage(images[i*size:(i+1)*size], h, w, c)
		draw.NearestNeighbor.Scale(dst, l.Cell(i, h, w), src, src.Bounds(), draw.Src, nil)
	}
	return dst, l, nil
}

// hwcImage views one HWC image as an image.Image: grey bytes are used in place, RGB is
// expanded to opaque RGBA.
func hwcImage(px []uint8, h, w, c int) image.Image {
	r := image.Rect(0, 0, w, h)
	if c == 1 {
		return &image.Gray{Pix: px, Stride: w, Rect: r}
	}
	img := image.NewRGBA(r)
	for p := 0; p < h*w; p++ {
		copy(img.Pix[4*p:4*p+3], px[3*p:3*p+3])
		img.Pix[4*p+3] = 255
	}
	return img
}
