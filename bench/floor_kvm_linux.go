//go:build linux && amd64

package bench

import (
	"context"

	"tessera/guest"
	"tessera/loader"
	"tessera/vmm"
)

func init() { floorMakers = append(floorMakers, kvmFloors) }

// kvmFloors measures a VM created and destroyed for every call: what
// reusing one saves. (The floor under the KVM backend, a bare KVM_RUN
// round trip with register reset, is measured by the backend itself, on
// the VM its calls run on; see floorer.)
func kvmFloors(cfg *Config, w Workload) ([]*Target, error) {
	if w.Name != "noop" || vmm.Available() != nil {
		return nil, nil
	}
	bin, err := guest.Read(guest.X86_64, w.Guest)
	if err != nil {
		return nil, err
	}
	img, err := loader.Parse(bin)
	if err != nil {
		return nil, err
	}
	fn := &loader.Function{Name: w.Guest, Image: img, ContextSize: w.ContextSize}
	fresh := &Target{System: "floor/fresh-vm", Kind: KindFloor, Function: w.Name, MaxCalls: 500, Group: groupHeavy,
		call: func(ctx context.Context) (Phases, bool, error) {
			e, err := vmm.NewEngine(vmm.Config{MaxContextSize: 64 << 20})
			if err != nil {
				return Phases{}, false, err
			}
			defer e.Close()
			outs, err := e.Run(ctx, fn, nil)
			outs.Release()
			return Phases{}, false, err
		}}
	return []*Target{fresh}, nil
}
