//go:build linux && amd64

package ptraceiso_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"tessera/internal/proc/proctest"
	"tessera/loader"
	"tessera/ptraceiso"
)

func Example() {
	r, err := ptraceiso.New(ptraceiso.Config{})
	if err != nil {
		fmt.Println("unavailable:", err)
		return
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A function that returns its input items as its outputs (a guest
	// hand-assembled for the tests; any static ELF built for the ABI runs).
	echo, err := proctest.Function("echo", proctest.Binary(proctest.Echo(0)), 1<<20)
	if err != nil {
		panic(err)
	}
	in := []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "greeting", Data: []byte("hello, sandbox")}}}}
	outs, err := r.Run(ctx, echo, in)
	if err != nil {
		panic(err)
	}
	for _, it := range outs.Set("out").Items {
		fmt.Printf("%s: %s\n", it.Ident, it.Data)
	}
	outs.Release()

	// A function that tries a system call is stopped and told which.
	write, err := proctest.Function("write", proctest.Binary(proctest.Syscall(1, 1, proctest.DataAddr, 5)), 1<<20)
	if err != nil {
		panic(err)
	}
	_, err = r.Run(ctx, write, nil)
	var se *ptraceiso.SyscallError
	if errors.As(err, &se) {
		fmt.Println(errors.Is(err, loader.ErrSyscall), se.Name, se.Args[0], se.Args[2])
	}
	// Output:
	// greeting: hello, sandbox
	// true write 1 5
}

// Binaries built with Dandelion's SDK for its process backend set their
// thread pointer with arch_prctl(ARCH_SET_FS); the tracer lets that one
// call through when the address lies inside the context.
func Example_threadPointer() {
	r, err := ptraceiso.New(ptraceiso.Config{})
	if err != nil {
		fmt.Println("unavailable:", err)
		return
	}
	defer r.Close()
	for _, tp := range []uint64{proctest.TLSAddr, 1 << 20} { // inside, then just past the end
		fn, err := proctest.Function("tls", proctest.Binary(proctest.TLS(tp)), 1<<20)
		if err != nil {
			panic(err)
		}
		outs, err := r.Run(context.Background(), fn, nil)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%%fs:8 = %#x\n", binary.LittleEndian.Uint64(outs.Set("out").Items[0].Data))
		outs.Release()
	}
	// Output:
	// %fs:8 = 0x1122334455667788
	// blocked system call: arch_prctl(0x1002, 0x100000, 0x0, 0x0, 0x0, 0x0) [x86_64 #158 via syscall at 0x10028]
}
