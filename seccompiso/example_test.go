//go:build linux && amd64

package seccompiso_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tessera/internal/proc/proctest"
	"tessera/loader"
	"tessera/seccompiso"
)

func Example() {
	r, err := seccompiso.New(seccompiso.Config{})
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
	var se *seccompiso.SyscallError
	if errors.As(err, &se) {
		fmt.Println(errors.Is(err, loader.ErrSyscall), se.Name, se.Args[0], se.Args[2])
	}
	// Output:
	// greeting: hello, sandbox
	// true write 1 5
}
