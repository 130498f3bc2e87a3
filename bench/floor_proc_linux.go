//go:build linux && amd64

package bench

import (
	"context"
	"fmt"

	"tessera/internal/proc"
)

func init() { floorMakers = append(floorMakers, procFloor) }

// procFloor is what the process backends stand on: vfork+exec of a minimal
// static program that only exits, and its reaping, with the same spawn
// primitive and attributes the backends' exec path uses.
func procFloor(cfg *Config, w Workload) ([]*Target, error) {
	if w.Name != "noop" {
		return nil, nil
	}
	path, err := proc.FloorPath()
	if err != nil {
		return nil, err
	}
	return []*Target{{System: "floor/vfork-exec", Kind: KindFloor, Function: "-",
		call: func(context.Context) (Phases, bool, error) {
			ws, err := proc.SpawnAndWait(path)
			if err == nil && ws.ExitStatus() != 0 {
				err = fmt.Errorf("floor program: wait status %#x", uint32(ws))
			}
			return Phases{}, false, err
		}}}, nil
}
