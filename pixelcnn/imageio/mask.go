package imageio

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"pixelcnn/nn"
)

// MaxMaskKernel bounds the kernel size MaskImage draws; larger kernels are legal in nn but
// their picture would be unreadable.
const MaxMaskKernel = 31

// Grey levels of the mask picture, as in the seed's plot: connected taps are white,
// masked ones black, and the centre tap a grey that still shows its value.
const (
	maskOn         = 255
	maskOff        = 0
	maskCentreOn   = 200
	maskCentreOff  = 55
	maskGridGrey   = 128
	maskPanelGap   = 16
	maskMarginSide = 12
)

// maskLegend names the four shades of a mask picture, in the order the legend lists them.
var maskLegend = []struct {
	grey  uint8
	label string
}{
	{maskOn, "read (unmasked tap)"},
	{maskOff, "not read (masked tap)"},
	{maskCentreOn, "centre tap, read"},
	{maskCentreOff, "centre tap, masked"},
}

// Legend geometry: one swatch and label per line below the panels.
const (
	legendSwatch = 12
	legendLine   = textHeight + 6
)

// maskLayout is the geometry of a MaskImage: colors x colors panels, each k x k cells of
// cell pixels separated by 1-px grid lines, below a title and column labels.
type maskLayout struct {
	k, colors, cell int
	left, top       int // top-left corner of the first panel
	legendTop       int // y of the legend's first line
	width, height   int
}

func newMaskLayout(k, colors int, title string) maskLayout {
	l := maskLayout{k: k, colors: colors, cell: min(32, max(8, 168/k))}
	labelW := 0
	for i := 0; i < colors; i++ {
		labelW = max(labelW, textWidth(colourName(i, colors)+" in"))
	}
	l.left = maskMarginSide + labelW + 10
	l.top = maskMarginSide + textHeight + 12 + textHeight + 8
	span := colors*l.panel() + (colors-1)*maskPanelGap
	legendW := 0
	for _, e := range maskLegend {
		legendW = max(legendW, legendSwatch+6+textWidth(e.label))
	}
	l.width = max(l.left+span+maskMarginSide, textWidth(title)+2*maskMarginSide, legendW+2*maskMarginSide)
	l.legendTop = l.top + span + 12
	l.height = l.legendTop + len(maskLegend)*legendLine + maskMarginSide
	return l
}

// legendSwatch is the rectangle of the n-th legend entry's shade.
func (l maskLayout) legendSwatch(n int) image.Rectangle {
	x, y := maskMarginSide+1, l.legendTop+n*legendLine
	return image.Rect(x, y, x+legendSwatch, y+legendSwatch)
}

// panel is the side of one panel in pixels, grid lines included.
func (l maskLayout) panel() int { return l.k*l.cell + 1 }

// panelOrigin is the top-left pixel of the panel for input colour i (row) and output colour
// j (column).
func (l maskLayout) panelOrigin(i, j int) image.Point {
	return image.Pt(l.left+j*(l.panel()+maskPanelGap), l.top+i*(l.panel()+maskPanelGap))
}

// cellRect is the interior (grid lines excluded) of kernel tap (ky, kx) in panel (i, j).
func (l maskLayout) cellRect(i, j, ky, kx int) image.Rectangle {
	o := l.panelOrigin(i, j)
	x0, y0 := o.X+kx*l.cell+1, o.Y+ky*l.cell+1
	return image.Rect(x0, y0, x0+l.cell-1, y0+l.cell-1)
}

// colourName names colour i of colors for labels: R, G, B, or "grey" for one colour.
func colourName(i, colors int) string {
	if colors == 1 {
		return "grey"
	}
	return string("RGB"[i])
}

func labelColour(i, colors int) color.RGBA {
	if colors == 1 {
		return color.RGBA{0, 0, 0, 255}
	}
	return []color.RGBA{{200, 0, 0, 255}, {0, 140, 0, 255}, {0, 0, 220, 255}}[i]
}

// MaskImage draws the PixelCNN mask of a k x k kernel as the seed tutorial plots it: a
// colors x colors grid of panels (row = input colour, column = output colour; colors is 1
// for grey or 3 for RGB), each the k x k kernel with white = connected and black = masked.
// The centre tap, the only one that differs between masks A and B and between colour pairs,
// is drawn light grey when connected and dark grey when masked. The pattern comes from
// nn.Mask with one feature per colour.
func MaskImage(k int, mode nn.MaskMode, colors int) (image.Image, error) {
	switch {
	case k < 1 || k%2 == 0:
		return nil, fmt.Errorf("imageio: mask kernel size %d must be odd and positive", k)
	case k > MaxMaskKernel:
		return nil, fmt.Errorf("imageio: mask kernel size %d is too large to draw (max %d)", k, MaxMaskKernel)
	case colors != 1 && colors != 3:
		return nil, fmt.Errorf("imageio: colour count %d must be 1 (grey) or 3 (RGB)", colors)
	case mode != nn.MaskA && mode != nn.MaskB:
		return nil, fmt.Errorf("imageio: unknown mask mode %v", mode)
	}
	m, err := nn.Mask(nn.ConvSpec{Name: "mask image", K: k, In: colors, Out: colors, Colors: colors, Mode: mode})
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	title := maskTitle(k, mode, colors)
	l := newMaskLayout(k, colors, title)
	img := image.NewRGBA(image.Rect(0, 0, l.width, l.height))
	fillRect(img, img.Bounds(), color.White)
	drawTextCentred(img, title, l.width/2, maskMarginSide, color.Black)

	c := k / 2
	for i := 0; i < colors; i++ {
		for j := 0; j < colors; j++ {
			o := l.panelOrigin(i, j)
			fillRect(img, image.Rect(o.X, o.Y, o.X+l.panel(), o.Y+l.panel()), color.Gray{Y: maskGridGrey})
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					on := m[((ky*k+kx)*colors+i)*colors+j] == 1
					centre := ky == c && kx == c
					g := uint8(maskOff)
					switch {
					case centre && on:
						g = maskCentreOn
					case centre:
						g = maskCentreOff
					case on:
						g = maskOn
					}
					fillRect(img, l.cellRect(i, j, ky, kx), color.Gray{Y: g})
				}
			}
		}
	}
	for j := 0; j < colors; j++ {
		o := l.panelOrigin(0, j)
		drawTextCentred(img, colourName(j, colors)+" out", o.X+l.panel()/2, l.top-8-textHeight, labelColour(j, colors))
	}
	for i := 0; i < colors; i++ {
		o := l.panelOrigin(i, 0)
		s := colourName(i, colors) + " in"
		drawText(img, s, l.left-10-textWidth(s), o.Y+l.panel()/2-textHeight/2, labelColour(i, colors))
	}
	for n, e := range maskLegend {
		r := l.legendSwatch(n)
		fillRect(img, r.Inset(-1), color.Gray{Y: maskGridGrey})
		fillRect(img, r, color.Gray{Y: e.grey})
		drawText(img, e.label, r.Max.X+6, r.Min.Y+legendSwatch/2-textHeight/2, color.Black)
	}
	return img, nil
}

// maskTitle is the heading of a MaskImage, e.g. "Mask A, 7x7, 3 colours".
func maskTitle(k int, mode nn.MaskMode, colors int) string {
	unit := "colours"
	if colors == 1 {
		unit = "colour"
	}
	return fmt.Sprintf("Mask %v, %dx%d, %d %s", mode, k, k, colors, unit)
}

// SideBySide places images left to right, top-aligned, gap white pixels apart, on a white
// canvas (e.g. mask A next to mask B).
func SideBySide(gap int, imgs ...image.Image) *image.RGBA {
	w, h := 0, 0
	for i, im := range imgs {
		if i > 0 {
			w += gap
		}
		w += im.Bounds().Dx()
		h = max(h, im.Bounds().Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	fillRect(out, out.Bounds(), color.White)
	x := 0
	for _, im := range imgs {
		b := im.Bounds()
		draw.Draw(out, image.Rect(x, 0, x+b.Dx(), b.Dy()), im, b.Min, draw.Src)
		x += b.Dx() + gap
	}
	return out
}
