package loader_test

import (
	"errors"
	"fmt"

	"tessera/internal/elfgen"
	"tessera/loader"
)

func ExampleParse() {
	// A tiny static executable: one text page and one data page holding
	// __dandelion_system_data.
	bin := elfgen.Minimal([]byte{0x0f, 0x05}).Bytes()
	img, err := loader.Parse(bin)
	if err != nil {
		panic(err)
	}
	for _, s := range img.Segments {
		fmt.Printf("%#x-%#x %v\n", s.Addr, s.End(), s.Perm)
	}
	fmt.Printf("entry %#x, system data %#x\n", img.Entry, img.SystemData)

	// Bad input gets a typed error naming what was wrong.
	_, err = loader.Parse([]byte("#!/bin/sh\necho not an executable, but a shell script of some length\n"))
	fmt.Println(errors.Is(err, loader.ErrNotELF), err)
	// Output:
	// 0x10000-0x10002 r-x
	// 0x11000-0x12000 rw-
	// entry 0x10000, system data 0x11000
	// true loader: not an ELF file: no ELF magic in the first bytes
}

func ExampleContext() {
	img, err := loader.Parse(elfgen.Minimal([]byte{0x0f, 0x05}).Bytes())
	if err != nil {
		panic(err)
	}
	ctx, err := loader.NewContext(1 << 20)
	if err != nil {
		panic(err)
	}
	defer ctx.Release()

	inputs := []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "greeting", Data: []byte("hello")}}}}
	layout, err := ctx.Setup(img, inputs, []string{"out"}, loader.SetupOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("stack top %#x, heap [%#x, %#x)\n", layout.StackTop, layout.HeapBegin, layout.HeapEnd)

	// A backend would now run the guest. This one exits without outputs.
	outs, err := ctx.ReadOutputs()
	if err != nil {
		panic(err)
	}
	defer outs.Release()
	fmt.Printf("%d output set %q with %d items\n", len(outs.Sets), outs.Sets[0].Ident, len(outs.Sets[0].Items))
	// Output:
	// stack top 0xfffe0, heap [0x13000, 0xdf000)
	// 1 output set "out" with 0 items
}
