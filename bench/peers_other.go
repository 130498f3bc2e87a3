//go:build !linux

package bench

func peerTargets(cfg *Config, w Workload) ([]*Target, []string) {
	return nil, []string{"peers: need Linux"}
}
