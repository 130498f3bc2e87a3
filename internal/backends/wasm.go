package backends

import (
	"tessera/internal/sandbox"
	"tessera/wasmiso"
)

// wasm runs WebAssembly modules on wazero; pure Go, so it runs anywhere.
func init() {
	register("wasm", func(o Options) (sandbox.Backend, error) {
		return wasmiso.NewBackend(wasmiso.Config{}, o.Engines)
	}, func() error { return nil })
}
