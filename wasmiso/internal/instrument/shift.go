package instrument

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// renumberer checks and renumbers the function and global indices a
// module names outside its code (*limits for the rewrite; the tests use
// others to check what the rewrite produced).
type renumberer interface {
	fn(uint32) (uint32, error)
	global(uint32) (uint32, error)
}

// rebuildImports appends the check function to the import section.
func (m *Module) rebuildImports(p *parsed, checkType uint32) ([]byte, error) {
	b := appendU32(nil, uint32(len(m.Imports))+1)
	for _, s := range p.secs {
		if s.id == secImport {
			r := &reader{b: s.data}
			if _, err := r.u32(); err != nil {
				return nil, err
			}
			b = append(b, s.data[r.pos:]...)
		}
	}
	b = appendName(appendName(b, CheckModule), CheckName)
	return appendU32(append(b, 0x00), checkType), nil
}

// constExpr copies a constant expression, renumbering ref.func and
// checking global.get.
func constExpr(r *reader, out []byte, rn renumberer) ([]byte, error) {
	for {
		op, err := r.byte()
		if err != nil {
			return nil, err
		}
		out = append(out, op)
		start := r.pos
		switch op {
		case 0x0b: // end
			return out, nil
		case 0x41:
			err = r.skipLEB(32)
		case 0x42:
			err = r.skipLEB(64)
		case 0x43:
			_, err = r.bytes(4)
		case 0x44:
			_, err = r.bytes(8)
		case 0x23: // global.get
			var g uint32
			if g, err = r.u32(); err == nil {
				_, err = rn.global(g)
			}
		case 0xd0: // ref.null
			err = r.skipLEB(33)
		case 0xd2: // ref.func
			var f uint32
			if f, err = r.u32(); err == nil {
				if f, err = rn.fn(f); err == nil {
					out = appendU32(out, f)
					continue
				}
			}
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.u32(); err == nil && sub != 0x0c {
				err = fmt.Errorf("0xfd %#x in a constant expression", sub)
			} else if err == nil {
				_, err = r.bytes(16)
			}
		default:
			return nil, fmt.Errorf("opcode %#x in a constant expression", op)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.b[start:r.pos]...)
	}
}

// shiftGlobals rebuilds the global section with the budget global added
// after the module's own (initialisers may name functions).
func shiftGlobals(p *parsed, rn renumberer) ([]byte, error) {
	b := appendU32(nil, p.globals+1)
	for _, s := range p.secs {
		if s.id != secGlobal {
			continue
		}
		r := &reader{b: s.data}
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		for i := uint32(0); i < n; i++ {
			t, err := r.bytes(2) // value type, mutability
			if err != nil {
				return nil, err
			}
			if b, err = constExpr(r, append(b, t...), rn); err != nil {
				return nil, fmt.Errorf("global %d: %w", i, err)
			}
		}
		if !r.done() {
			return nil, errors.New("trailing bytes")
		}
	}
	// (global (mut i32) (i32.const Budget))
	return append(appendS32(append(b, 0x7f, 0x01, 0x41), Budget), 0x0b), nil
}

// shiftExports rebuilds the export section with functions renumbered and
// a former start function exported.
func shiftExports(p *parsed, rn renumberer) ([]byte, error) {
	n := uint32(len(p.exports))
	if p.start >= 0 {
		n++
	}
	b := appendU32(nil, n)
	for _, s := range p.secs {
		if s.id != secExport {
			continue
		}
		r := &reader{b: s.data}
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		for range p.exports {
			name, err := r.name()
			if err != nil {
				return nil, err
			}
			kind, err := r.byte()
			if err != nil {
				return nil, err
			}
			idx, err := r.u32()
			if err != nil {
				return nil, err
			}
			switch kind {
			case 0:
				idx, err = rn.fn(idx)
			case 3:
				idx, err = rn.global(idx)
			case 1, 2: // tables and memories: none is added
			default:
				err = fmt.Errorf("kind %d", kind)
			}
			if err != nil {
				return nil, fmt.Errorf("export %q: %w", name, err)
			}
			b = appendU32(append(appendName(b, name), kind), idx)
		}
	}
	if p.start >= 0 {
		f, err := rn.fn(uint32(p.start))
		if err != nil {
			return nil, fmt.Errorf("start function: %w", err)
		}
		b = appendU32(append(appendName(b, StartExport), 0), f)
	}
	return b, nil
}

// shiftElements renumbers the functions of an element section, in all
// eight segment encodings.
func shiftElements(data []byte, rn renumberer) ([]byte, error) {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	b := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return nil, err
		}
		if flags > 7 {
			return nil, fmt.Errorf("element segment %d: flags %d", i, flags)
		}
		b = appendU32(b, flags)
		copyBytes := func(n uint32) error {
			s, err := r.bytes(n)
			b = append(b, s...)
			return err
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index
			t, err := r.u32()
			if err != nil {
				return nil, err
			}
			b = appendU32(b, t)
		}
		if flags&1 == 0 { // active: an offset expression
			if b, err = constExpr(r, b, rn); err != nil {
				return nil, fmt.Errorf("element segment %d: %w", i, err)
			}
		}
		if flags&3 != 0 { // an element kind or reference type
			if err := copyBytes(1); err != nil {
				return nil, err
			}
		}
		count, err := r.u32()
		if err != nil {
			return nil, err
		}
		b = appendU32(b, count)
		for j := uint32(0); j < count; j++ {
			if flags&4 != 0 { // expressions
				if b, err = constExpr(r, b, rn); err != nil {
					return nil, fmt.Errorf("element segment %d: %w", i, err)
				}
				continue
			}
			f, err := r.u32()
			if err != nil {
				return nil, err
			}
			if f, err = rn.fn(f); err != nil {
				return nil, fmt.Errorf("element segment %d: %w", i, err)
			}
			b = appendU32(b, f)
		}
	}
	if !r.done() {
		return nil, errors.New("trailing bytes")
	}
	return b, nil
}

// shiftNames renumbers the functions a "name" custom section names (its
// function, local and label subsections). Other custom sections come back
// unchanged; a name section that does not parse, or names a function the
// module does not have, comes back nil (wazero would only use it for stack
// traces).
func shiftNames(data []byte, rn renumberer) []byte {
	r := &reader{b: data}
	name, err := r.name()
	if err != nil || name != "name" {
		return data
	}
	b := appendName(nil, name)
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil
		}
		size, err := r.u32()
		if err != nil {
			return nil
		}
		sub, err := r.bytes(size)
		if err != nil {
			return nil
		}
		switch id {
		case 1: // function names: a name map keyed by function
			sub = shiftNameMap(sub, rn, false)
		case 2, 3: // local and label names: maps of name maps
			sub = shiftNameMap(sub, rn, true)
		}
		if sub == nil {
			return nil
		}
		b = append(b, id)
		b = appendU32(b, uint32(len(sub)))
		b = append(b, sub...)
	}
	return b
}

// shiftNameMap renumbers the keys of a name map (vec of index, name; the
// names escaped with Printable) or, if indirect, of an indirect name map
// (vec of index, name map).
func shiftNameMap(data []byte, rn renumberer, indirect bool) []byte {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return nil
	}
	b := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		idx, err := r.u32()
		if err != nil {
			return nil
		}
		if idx, err = rn.fn(idx); err != nil {
			return nil
		}
		b = appendU32(b, idx)
		start := r.pos
		if !indirect {
			// Function names end up in stack traces and error messages:
			// escaped, so a guest's names cannot forge lines or send
			// terminal escapes.
			name, err := r.name()
			if err != nil {
				return nil
			}
			b = appendName(b, Printable(name))
			continue
		}
		m, err := r.u32()
		if err != nil {
			return nil
		}
		for j := uint32(0); j < m; j++ {
			if _, err := r.u32(); err != nil {
				return nil
			}
			if _, err := r.name(); err != nil {
				return nil
			}
		}
		b = append(b, r.b[start:r.pos]...)
	}
	if !r.done() {
		return nil
	}
	return b
}

// checkData checks the offset expressions of a data section's active
// segments (a global.get must name one of the module's globals); the
// section is copied unchanged.
func checkData(data []byte, rn renumberer) error {
	r := &reader{b: data}
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		switch flags {
		case 2: // an explicit memory index, then as 0
			if _, err := r.u32(); err != nil {
				return err
			}
			fallthrough
		case 0: // active: an offset expression
			if _, err := constExpr(r, nil, rn); err != nil {
				return fmt.Errorf("data segment %d: %w", i, err)
			}
		case 1: // passive
		default:
			return fmt.Errorf("data segment %d: flags %d", i, flags)
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		if _, err := r.bytes(size); err != nil {
			return err
		}
	}
	if !r.done() {
		return errors.New("trailing bytes")
	}
	return nil
}

// Printable returns s, or if it holds anything but printable characters
// (control characters, invalid UTF-8) s escaped as a Go string literal
// without its quotes: "a\nb" for a line break.
func Printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// keep is the renumberer of a module left as it is.
type keep struct{}

func (keep) fn(i uint32) (uint32, error)     { return i, nil }
func (keep) global(i uint32) (uint32, error) { return i, nil }
