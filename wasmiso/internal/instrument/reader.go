package instrument

import (
	"errors"
	"fmt"
)

// errTruncated is returned when a structure runs past the end of its
// enclosing section or body.
var errTruncated = errors.New("unexpected end")

// reader decodes the primitive encodings of the Wasm binary format. Every
// read is bounds checked: the input is untrusted.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) done() bool { return r.pos >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)-r.pos) {
		return nil, errTruncated
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

// u32 reads an unsigned LEB128 value of at most 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift == 28 && c&0x70 != 0 {
			return 0, errors.New("u32 out of range")
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
		if shift == 28 {
			return 0, errors.New("u32 too long")
		}
	}
}

// skipLEB skips a signed or unsigned LEB128 value of at most bits bits
// (32, 33 or 64). Range checks beyond the length are left to wazero's
// validation of the rewritten module; only the length matters here.
func (r *reader) skipLEB(bits int) error {
	max := (bits + 6) / 7
	for i := 0; i < max; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return fmt.Errorf("LEB128 longer than %d bytes", max)
}

// name reads a length-prefixed byte string.
func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	return string(b), err
}

// limits reads a table or memory limits structure.
func (r *reader) limits() (min uint32, max uint32, hasMax bool, err error) {
	flag, err := r.byte()
	if err != nil {
		return 0, 0, false, err
	}
	if flag > 3 { // 0: min; 1: min max; 2,3: shared variants (threads)
		return 0, 0, false, fmt.Errorf("limits flag %#x", flag)
	}
	if min, err = r.u32(); err != nil {
		return 0, 0, false, err
	}
	if flag&1 != 0 {
		if max, err = r.u32(); err != nil {
			return 0, 0, false, err
		}
		hasMax = true
	}
	return min, max, hasMax, nil
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

// s33 reads a signed LEB128 value of at most 33 bits (a block type index).
func (r *reader) s33() (int64, error) {
	var v int64
	var shift uint
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, errors.New("s33 too long")
}

// appendS32 appends a signed LEB128 value.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
