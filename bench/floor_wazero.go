package bench

import (
	"context"
	"math/rand/v2"

	"github.com/tetratelabs/wazero"
)

func init() { floorMakers = append(floorMakers, wasmFloor) }

// minimalModule is (module (memory 1) (func (export "_start"))).
var minimalModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
	0x03, 0x02, 0x01, 0x00, // func 0 of type 0
	0x05, 0x03, 0x01, 0x00, 0x01, // one memory of one page
	0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export "_start"
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // body: end
}

// wasmFloor is what the Wasm backend stands on: plain wazero instantiating
// a precompiled minimal module, calling it and closing it; nothing of
// wasmiso but its random source.
func wasmFloor(cfg *Config, w Workload) ([]*Target, error) {
	if w.Name != "noop" || !cfg.wantSystem("wasm") && !cfg.wantSystem("floor/wazero") {
		return nil, nil
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	cm, err := rt.CompileModule(ctx, minimalModule)
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	return []*Target{{System: "floor/wazero", Kind: KindFloor, Function: "-",
		close: func() { rt.Close(ctx) },
		call: func(ctx context.Context) (Phases, bool, error) {
			// wazero's default seeds a math/rand source per instance (about
			// 8 us, most of an untuned instantiation); wasmiso gives each
			// call a deterministic ChaCha8 stream seeded on first use, and
			// so does the floor, or it would stand above what it floors.
			m, err := rt.InstantiateModule(ctx, cm, mc.WithRandSource(&lazyRand{}))
			if err != nil {
				return Phases{}, false, err
			}
			_, err = m.ExportedFunction("_start").Call(ctx)
			m.Close(ctx)
			return Phases{}, false, err
		}}}, nil
}

// lazyRand is the same stream in every instance, seeded when first read,
// as wasmiso's random_get source is.
type lazyRand struct {
	seeded bool
	c      rand.ChaCha8
}

func (g *lazyRand) Read(p []byte) (int, error) {
	if !g.seeded {
		g.c.Seed([32]byte([]byte("tessera bench floor rand seed...")))
		g.seeded = true
	}
	return g.c.Read(p)
}
