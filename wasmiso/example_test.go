package wasmiso_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"tessera/internal/sandbox"
	"tessera/loader"
	"tessera/wasmiso"
)

// helloWasm is this module, assembled with wat2wasm. It writes a line to
// stdout and the same line to /out/greeting:
//
//	(module
//	  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
//	  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
//	  (memory (export "memory") 1)
//	  (data (i32.const 64) "hello from wasm\n")
//	  (data (i32.const 96) "out/greeting")
//	  (func (export "_start")
//	    (i32.store (i32.const 0) (i32.const 64))   ;; iovec {buf 64, len 16}
//	    (i32.store (i32.const 4) (i32.const 16))
//	    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
//	    ;; open out/greeting below fd 3, the preopened "/", creating it for writing
//	    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 96) (i32.const 12)
//	      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
//	    (drop (call $fd_write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))))
var helloWasm = mustHex("" +
	"0061736d0100000001190360047f7f7f7f017f60097f7f7f7f7f7e7e7f7f017f" +
	"60000002460216776173695f736e617073686f745f7072657669657731086664" +
	"5f7772697465000016776173695f736e617073686f745f707265766965773109" +
	"706174685f6f70656e0001030201020503010001071302066d656d6f72790200" +
	"065f737461727400020a43014100410041c00036020041044110360200410141" +
	"004101410810001a4103410041e000410c410142c00042004100411010011a41" +
	"1028020041004101410810001a0b0b29020041c0000b1068656c6c6f2066726f" +
	"6d207761736d0a0041e0000b0c6f75742f6772656574696e67" +
	"")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// A Runtime compiles a module once and runs it in a fresh instance per
// call: stdout becomes the item stdio/stdout, files written under /out
// the items of the output set out.
func Example() {
	rt, err := wasmiso.New(wasmiso.Config{NoDiskCache: true})
	if err != nil {
		panic(err)
	}
	defer rt.Close()
	m, err := rt.Compile(helloWasm)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outs, err := rt.Run(ctx, m, wasmiso.Call{Outputs: []string{"stdio", "out"}, MemoryLimit: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer outs.Release()
	for _, s := range outs.Sets {
		for _, it := range s.Items {
			fmt.Printf("%s/%s: %q\n", s.Ident, it.Ident, it.Data)
		}
	}
	// Output:
	// stdio/stdout: "hello from wasm\n"
	// out/greeting: "hello from wasm\n"
}

// The wasm backend behind tessera's common sandbox interface, as the
// dispatcher and the tessera command use it.
func ExampleNewBackend() {
	b, err := wasmiso.NewBackend(wasmiso.Config{NoDiskCache: true}, 1)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	fn, err := b.Load(sandbox.Spec{Name: "hello", Binary: helloWasm, InputSets: []string{"stdio"}, OutputSets: []string{"out"}})
	if err != nil {
		panic(err)
	}
	outs, err := fn.Run(context.Background(), []loader.Set{{Ident: "stdio", Items: []loader.Item{{Ident: "argv", Data: []byte("hello")}}}})
	if err != nil {
		panic(err)
	}
	defer outs.Release()
	fmt.Printf("%s\n", strings.TrimSpace(string(outs.Set("out").Items[0].Data)))
	// Output: hello from wasm
}
