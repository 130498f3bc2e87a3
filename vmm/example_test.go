//go:build linux && amd64

package vmm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"tessera/internal/elfgen"
	"tessera/loader"
	"tessera/vmm"
)

// echoGuest is a complete guest, hand-assembled so the example needs no
// build step. It hands its first input item back as its only output
// (zero copy) and exits:
//
//	mov  0x11038, %rsi        # system data: input_bufs
//	mov  0x11030, %rdi        # system data: output_sets
//	mov  %rsi, 0x11040        # output_bufs = input_bufs
//	movq $0, 16(%rdi)         # output set 0 starts at buffer 0
//	movq $1, 40(%rdi)         # and holds one buffer
//	movl $0, 0x11000          # exit_code = 0
//	mov  $231, %eax           # exit_group
//	syscall
var echoGuest = elfgen.Minimal([]byte{
	0x48, 0x8b, 0x34, 0x25, 0x38, 0x10, 0x01, 0x00, 0x48, 0x8b, 0x3c, 0x25, 0x30, 0x10, 0x01, 0x00,
	0x48, 0x89, 0x34, 0x25, 0x40, 0x10, 0x01, 0x00, 0x48, 0xc7, 0x47, 0x10, 0x00, 0x00, 0x00, 0x00,
	0x48, 0xc7, 0x47, 0x28, 0x01, 0x00, 0x00, 0x00, 0xc7, 0x04, 0x25, 0x00, 0x10, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05,
}).Bytes()

// A Pool is the easy way in: call Run from any goroutine.
func ExamplePool() {
	if err := vmm.Available(); err != nil {
		fmt.Println("no KVM here:", err)
		return
	}
	pool, err := vmm.NewPool(vmm.PoolConfig{})
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	// Parse once (at registration); run any number of times.
	img, err := loader.Parse(echoGuest) // or os.ReadFile("build/guests/x86-64/stdio")
	if err != nil {
		panic(err)
	}
	fn := &loader.Function{Name: "echo", Image: img, ContextSize: 4 << 20,
		InputSets: []string{"in"}, OutputSets: []string{"out"}}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	outs, err := pool.Run(ctx, fn, []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "msg", Data: []byte("hello from a fresh VM")}}}})
	var fault *vmm.ExceptionError
	switch {
	case errors.As(err, &fault):
		fmt.Fprintln(os.Stderr, "the function crashed:", fault)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
	default:
		defer outs.Release()
		fmt.Printf("%s\n", outs.Set("out").Items[0].Data)
	}
}

// An Engine is one VM bound to one OS thread: the building block for a
// platform that schedules its own compute threads.
func ExampleEngine() {
	if err := vmm.Available(); err != nil {
		fmt.Println("no KVM here:", err)
		return
	}
	runtime.LockOSThread() // the engine belongs to this thread
	defer runtime.UnlockOSThread()
	e, err := vmm.NewEngine(vmm.Config{MaxContextSize: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	img, _ := loader.Parse(echoGuest)
	fn := &loader.Function{Name: "echo", Image: img, ContextSize: 4 << 20,
		InputSets: []string{"in"}, OutputSets: []string{"out"}}
	var tr vmm.Trace
	for i := 0; i < 3; i++ {
		outs, err := e.RunTrace(context.Background(), fn,
			[]loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "n", Data: []byte{byte('0' + i)}}}}}, &tr)
		if err != nil {
			panic(err)
		}
		fmt.Printf("call %d: %s in %v of guest time\n", i, outs.Set("out").Items[0].Data, tr.Execute)
	}
}

// The examples print timings, so they carry no Output comment and are not
// run by go test on their own; this runs them, where KVM is available.
func TestExamples(t *testing.T) {
	if err := vmm.Available(); err != nil {
		t.Skipf("KVM unavailable: %v", err)
	}
	ExamplePool()
	ExampleEngine()
}
