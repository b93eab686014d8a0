package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// series is one line of a chart.
type series struct {
	name   string
	color  color.RGBA
	dashed bool
	xs, ys []float64
}

// chart is a line plot drawn with the standard library only: axes, ticks
// with numbers, a legend, and a logarithmic y axis when asked.
type chart struct {
	title, xLabel, yLabel string
	logY                  bool
	series                []series
}

const (
	plotW, plotH                       = 960, 600
	marginL, marginR, marginT, marginB = 90, 30, 50, 70
)

var (
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{220, 220, 220, 255}
	blue  = color.RGBA{31, 90, 180, 255}
	red   = color.RGBA{200, 50, 40, 255}
)

// canvas is the image with the chart's coordinate mapping.
type canvas struct {
	img                    *image.RGBA
	x0, x1, y0, y1         float64 // data bounds (y in log10 when logY)
	logY                   bool
	left, right, top, base int // pixel bounds of the plot area
}

func (c chart) writePNG(path string) error {
	cv := c.frame()
	for _, s := range c.series {
		cv.line(s)
	}
	cv.legend(c.series)
	cv.text(marginL, 18, c.title, black, 2)
	cv.text(marginL+(plotW-marginL-marginR)/2-len(c.xLabel)*6, plotH-22, c.xLabel, black, 1)
	cv.vtext(14, marginT+(plotH-marginT-marginB)/2+len(c.yLabel)*3, c.yLabel, black)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, cv.img)
}

// frame sets up the image, the bounds, the grid and the axes.
func (c chart) frame() *canvas {
	cv := &canvas{img: image.NewRGBA(image.Rect(0, 0, plotW, plotH)), logY: c.logY,
		left: marginL, right: plotW - marginR, top: marginT, base: plotH - marginB}
	for i := range cv.img.Pix {
		cv.img.Pix[i] = 255
	}
	cv.x0, cv.x1, cv.y0, cv.y1 = 0, 1, math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for i := range s.xs {
			cv.x1 = max(cv.x1, s.xs[i])
			y := cv.yv(s.ys[i])
			cv.y0, cv.y1 = min(cv.y0, y), max(cv.y1, y)
		}
	}
	if math.IsInf(cv.y0, 0) {
		cv.y0, cv.y1 = 0, 1
	}
	if c.logY {
		cv.y0, cv.y1 = math.Floor(cv.y0), math.Ceil(cv.y1)
	} else {
		cv.y0 = 0
	}
	if cv.y1 <= cv.y0 {
		cv.y1 = cv.y0 + 1
	}
	cv.x1 = niceCeil(cv.x1 * 1.05)
	cv.ticks()
	return cv
}

// yv maps a data value to the y axis' scale.
func (cv *canvas) yv(v float64) float64 {
	if cv.logY {
		return math.Log10(max(v, 1e-3))
	}
	return v
}

func (cv *canvas) px(x float64) int {
	return cv.left + int((x-cv.x0)/(cv.x1-cv.x0)*float64(cv.right-cv.left))
}

func (cv *canvas) py(y float64) int {
	return cv.base - int((cv.yv(y)-cv.y0)/(cv.y1-cv.y0)*float64(cv.base-cv.top))
}

// ticks draws the grid, the axes and their numbers.
func (cv *canvas) ticks() {
	step := niceCeil((cv.x1 - cv.x0) / 8)
	for x := cv.x0; x <= cv.x1+step/2; x += step {
		p := cv.px(x)
		cv.vline(p, cv.top, cv.base, grey)
		label := shortNumber(x)
		cv.text(p-len(label)*3, cv.base+8, label, black, 1)
	}
	if cv.logY {
		for e := cv.y0; e <= cv.y1; e++ {
			p := cv.py(math.Pow(10, e))
			cv.hline(cv.left, cv.right, p, grey)
			label := shortNumber(math.Pow(10, e))
			cv.text(cv.left-8-len(label)*6, p-3, label, black, 1)
		}
	} else {
		ys := niceCeil((cv.y1 - cv.y0) / 6)
		for y := cv.y0; y <= cv.y1+ys/2; y += ys {
			p := cv.py(y)
			cv.hline(cv.left, cv.right, p, grey)
			label := shortNumber(y)
			cv.text(cv.left-8-len(label)*6, p-3, label, black, 1)
		}
	}
	cv.hline(cv.left, cv.right, cv.base, black)
	cv.vline(cv.left, cv.top, cv.base, black)
}

// line draws a series with square markers.
func (cv *canvas) line(s series) {
	for i := range s.xs {
		x, y := cv.px(s.xs[i]), cv.py(s.ys[i])
		for dx := -3; dx <= 3; dx++ {
			for dy := -3; dy <= 3; dy++ {
				cv.set(x+dx, y+dy, s.color)
			}
		}
		if i > 0 {
			cv.segment(cv.px(s.xs[i-1]), cv.py(s.ys[i-1]), x, y, s.color, s.dashed)
		}
	}
}

// segment draws a two-pixel line from (x0,y0) to (x1,y1).
func (cv *canvas) segment(x0, y0, x1, y1 int, c color.RGBA, dashed bool) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		if dashed && (i/6)%2 == 1 {
			continue
		}
		x := x0 + (x1-x0)*i/n
		y := y0 + (y1-y0)*i/n
		cv.set(x, y, c)
		cv.set(x+1, y, c)
		cv.set(x, y+1, c)
	}
}

func (cv *canvas) legend(ss []series) {
	y := cv.top + 8
	for _, s := range ss {
		x := cv.right - 260
		cv.segment(x, y+3, x+30, y+3, s.color, s.dashed)
		cv.text(x+40, y, s.name, black, 1)
		y += 16
	}
}

func (cv *canvas) hline(x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		cv.set(x, y, c)
	}
}

func (cv *canvas) vline(x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		cv.set(x, y, c)
	}
}

func (cv *canvas) set(x, y int, c color.RGBA) {
	if image.Pt(x, y).In(cv.img.Rect) {
		cv.img.SetRGBA(x, y, c)
	}
}

// text draws s with the 5x7 font at scale, top-left at (x, y).
func (cv *canvas) text(x, y int, s string, c color.RGBA, scale int) {
	for _, r := range strings.ToUpper(s) {
		g := glyphs[unicode.ToUpper(r)]
		for row := range 7 {
			for col := range 5 {
				if g[row]&(0x10>>col) == 0 {
					continue
				}
				for sx := range scale {
					for sy := range scale {
						cv.set(x+col*scale+sx, y+row*scale+sy, c)
					}
				}
			}
		}
		x += 6 * scale
	}
}

// vtext draws s upwards from (x, y), for the y axis label.
func (cv *canvas) vtext(x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g := glyphs[r]
		for row := range 7 {
			for col := range 5 {
				if g[row]&(0x10>>col) != 0 {
					cv.set(x+row, y-col, c)
				}
			}
		}
		y -= 6
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// shortNumber prints 1500 as 1.5K and 0.01 as 0.01.
func shortNumber(v float64) string {
	switch {
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e3:
		return trimFloat(v/1e3) + "K"
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%g", v)
	}
	return trimFloat(v)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
