package guest

import (
	"encoding/binary"
	"image"
	"image/color"
)

// EncodeQOI encodes img in the QOI format (qoiformat.org), as input for
// qoi2png. With channels 3 the alpha channel is dropped (and must be 255
// for the image to round-trip). It uses every QOI operation: runs, the
// colour index, small and luma differences, full RGB and RGBA pixels.
func EncodeQOI(img *image.NRGBA, channels byte) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := []byte("qoif")
	out = binary.BigEndian.AppendUint32(out, uint32(w))
	out = binary.BigEndian.AppendUint32(out, uint32(h))
	out = append(out, channels, 0)
	var index [64]color.NRGBA
	prev := color.NRGBA{A: 255}
	run := 0
	for y := range h {
		for x := range w {
			px := img.NRGBAAt(img.Rect.Min.X+x, img.Rect.Min.Y+y)
			if channels == 3 {
				px.A = 255
			}
			last := x == w-1 && y == h-1
			if px == prev {
				run++
				if run == 62 || last {
					out = append(out, 0xc0|byte(run-1))
					run = 0
				}
				continue
			}
			if run > 0 {
				out = append(out, 0xc0|byte(run-1))
				run = 0
			}
			h := (int(px.R)*3 + int(px.G)*5 + int(px.B)*7 + int(px.A)*11) % 64
			switch {
			case index[h] == px:
				out = append(out, byte(h))
			case px.A == prev.A:
				dr, dg, db := int8(px.R-prev.R), int8(px.G-prev.G), int8(px.B-prev.B)
				drg, dbg := dr-dg, db-dg
				switch {
				case dr >= -2 && dr <= 1 && dg >= -2 && dg <= 1 && db >= -2 && db <= 1:
					out = append(out, 0x40|byte(dr+2)<<4|byte(dg+2)<<2|byte(db+2))
				case dg >= -32 && dg <= 31 && drg >= -8 && drg <= 7 && dbg >= -8 && dbg <= 7:
					out = append(out, 0x80|byte(dg+32), byte(drg+8)<<4|byte(dbg+8))
				default:
					out = append(out, 0xfe, px.R, px.G, px.B)
				}
			default:
				out = append(out, 0xff, px.R, px.G, px.B, px.A)
			}
			index[h] = px
			prev = px
		}
	}
	return append(out, 0, 0, 0, 0, 0, 0, 0, 1)
}
