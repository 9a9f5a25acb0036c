package imageio

import (
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The one font used: basicfont's 7x13 bitmap face (every glyph 7 px wide).
var face = basicfont.Face7x13

const (
	textAscent = 11 // basicfont.Face7x13 ascent: baseline offset from the top of a line
	textHeight = 13
)

// textWidth is the width in pixels of s drawn with face.
func textWidth(s string) int {
	return font.MeasureString(face, s).Ceil()
}

// drawText draws s with its top-left corner at (x, y).
func drawText(dst draw.Image, s string, x, y int, col color.Color) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y+textAscent)}
	d.DrawString(s)
}

// drawTextCentred draws s horizontally centred on cx with its top at y.
func drawTextCentred(dst draw.Image, s string, cx, y int, col color.Color) {
	drawText(dst, s, cx-textWidth(s)/2, y, col)
}

// drawTextVertical draws s rotated 90 degrees anticlockwise (reading bottom to top), centred
// vertically on cy with its left edge at x: the usual y-axis label.
func drawTextVertical(dst draw.Image, s string, x, cy int, col color.Color) {
	w := textWidth(s)
	tmp := image.NewAlpha(image.Rect(0, 0, w, textHeight))
	d := font.Drawer{Dst: tmp, Src: image.Opaque, Face: face, Dot: fixed.P(0, textAscent)}
	d.DrawString(s)
	// Rotating (u, v) of the horizontal text anticlockwise puts it at (v, w-1-u).
	rot := image.NewAlpha(image.Rect(0, 0, textHeight, w))
	for v := 0; v < textHeight; v++ {
		for u := 0; u < w; u++ {
			rot.SetAlpha(v, w-1-u, tmp.AlphaAt(u, v))
		}
	}
	r := image.Rect(x, cy-w/2, x+textHeight, cy-w/2+w)
	draw.DrawMask(dst, r, image.NewUniform(col), image.Point{}, rot, image.Point{}, draw.Over)
}
