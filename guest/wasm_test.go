package guest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// wasmImport is one function import of a module, with its signature
// written as "(i32,i32)->i64".
type wasmImport struct {
	module, name, sig string
}

// wasmImports reads the type and import sections of a Wasm module: just
// enough of the binary format to check the imports a guest asks for.
func wasmImports(b []byte) ([]wasmImport, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || b[4] != 1 {
		return nil, errors.New("not a version 1 wasm module")
	}
	r := &wasmReader{b: b[8:]}
	var types []string
	var imports []wasmImport
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &wasmReader{b: r.bytes()}
		switch id {
		case 1: // types
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if sec.byte() != 0x60 {
					return nil, errors.New("bad function type")
				}
				params, results := sec.valtypes(), sec.valtypes()
				types = append(types, "("+params+")->"+results)
			}
		case 2: // imports
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				mod, name := string(sec.bytes()), string(sec.bytes())
				kind := sec.byte()
				if kind != 0 {
					// tables, memories and globals: skip their descriptions
					return nil, fmt.Errorf("import %s.%s of kind %d", mod, name, kind)
				}
				t := sec.u32()
				if int(t) >= len(types) {
					return nil, fmt.Errorf("import %s.%s: type %d", mod, name, t)
				}
				imports = append(imports, wasmImport{mod, name, types[t]})
			}
		}
		if sec.err != nil {
			return nil, sec.err
		}
	}
	return imports, r.err
}

type wasmReader struct {
	b   []byte
	err error
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.err = errors.New("truncated module")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
	}
	return v
}

func (r *wasmReader) bytes() []byte {
	n := r.u32()
	if uint32(len(r.b)) < n {
		r.err = errors.New("truncated module")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *wasmReader) valtypes() string {
	var s []string
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		switch t := r.byte(); t {
		case 0x7f:
			s = append(s, "i32")
		case 0x7e:
			s = append(s, "i64")
		case 0x7d:
			s = append(s, "f32")
		case 0x7c:
			s = append(s, "f64")
		default:
			s = append(s, fmt.Sprintf("%#x", t))
		}
	}
	return strings.Join(s, ",")
}

// tesseraImports are the exact signatures docs/ABI.md §6 promises the Wasm
// backend will provide.
var tesseraImports = map[string]string{
	"getkey": "(i32,i32)->i64",
	"setkey": "(i32,i32,i64)->i32",
}

// TestWasmImports checks that the wasm32 builds import only WASI and the
// two tessera key functions, with exactly the documented signatures.
func TestWasmImports(t *testing.T) {
	for _, name := range ExampleNames {
		t.Run(name, func(t *testing.T) {
			imports, err := wasmImports(load(t, Wasm32, name))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, im := range imports {
				got[im.module+"."+im.name] = true
				switch im.module {
				case "wasi_snapshot_preview1":
				case "tessera":
					if want, ok := tesseraImports[im.name]; !ok || im.sig != want {
						t.Errorf("import tessera.%s %s, want one of %v", im.name, im.sig, tesseraImports)
					}
				default:
					t.Errorf("import from unknown module: %s.%s", im.module, im.name)
				}
			}
			switch name {
			case "noop":
				if len(imports) != 1 || !got["wasi_snapshot_preview1.proc_exit"] {
					t.Errorf("noop imports %v, want only proc_exit", imports)
				}
			case "wordcount_reduce", "fileio":
				if !got["tessera.getkey"] || !got["tessera.setkey"] {
					t.Errorf("%s does not import both key functions: %v", name, imports)
				}
			}
		})
	}
}
