//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"tessera/guest"
)

// A peer is another sandbox that can run the same static function: the
// native debug build of the guest, a normal Linux program. Each call runs
// the peer's command line once, start to exit, as a user would.
type peer struct {
	name  string
	tool  string // executable that must be on PATH ("" for plain exec)
	setup func(dir, fn string) error
	argv  func(dir, fn string) []string
	// hybridCgroups: the tool refuses hybrid cgroup v1/v2 hosts; run it
	// from a thread whose mount namespace hides the v2 hierarchy.
	hybridCgroups bool
}

// The command lines that work on our hosts (see shared/reference/peers.md
// for the quirks: crun refuses hybrid cgroup hierarchies unless it manages
// none, runc needs /proc inside the container).
var peers = []peer{
	{name: "peer/exec", argv: func(_, fn string) []string { return []string{fn} }},
	{name: "peer/bwrap", tool: "bwrap", setup: rootfs,
		argv: func(dir, _ string) []string {
			return []string{"bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", filepath.Join(dir, "rootfs"), "/", "/fn"}
		}},
	{name: "peer/crun", tool: "crun", setup: bundle(nil), hybridCgroups: true,
		argv: func(dir, _ string) []string {
			return []string{"crun", "--cgroup-manager=disabled", "--root", filepath.Join(dir, "state"), "run", "--bundle", dir, containerID()}
		}},
	{name: "peer/runc", tool: "runc", setup: bundle([]ociMount{{Destination: "/proc", Type: "proc", Source: "proc"}}),
		argv: func(dir, _ string) []string {
			return []string{"runc", "--root", filepath.Join(dir, "state"), "run", "--bundle", dir, containerID()}
		}},
	{name: "peer/runsc", tool: "runsc", setup: bundle(nil),
		argv: func(dir, _ string) []string {
			return []string{"runsc", "--root=" + filepath.Join(dir, "state"), "--rootless=false", "--network=none",
				"--platform=ptrace", "run", "--bundle", dir, containerID()}
		}},
}

func containerID() string { return fmt.Sprintf("tessera-bench-%d", os.Getpid()) }

// peerTargets prepares every installed peer to run w's debug build.
func peerTargets(cfg *Config, w Workload) ([]*Target, []string) {
	var targets []*Target
	var skipped []string
	fn, err := guest.Path(guest.Debug, w.Guest)
	if err != nil {
		return nil, []string{fmt.Sprintf("peers: %v", err)}
	}
	for _, p := range peers {
		if !cfg.wantSystem(p.name) && !cfg.wantSystem("peers") {
			continue
		}
		if p.tool != "" {
			if _, err := exec.LookPath(p.tool); err != nil {
				skipped = append(skipped, fmt.Sprintf("%s: %s not installed (make bench-peers installs it)", p.name, p.tool))
				continue
			}
		}
		dir, err := os.MkdirTemp("", "tessera-peer")
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", p.name, err))
			continue
		}
		if p.setup != nil {
			if err := p.setup(dir, fn); err != nil {
				os.RemoveAll(dir)
				skipped = append(skipped, fmt.Sprintf("%s: setting up: %v", p.name, err))
				continue
			}
		}
		argv := p.argv(dir, fn)
		run := runCommand
		cleanup := func() { os.RemoveAll(dir) }
		if p.hybridCgroups && isHybridCgroupHost() {
			ns, err := newHiddenCgroup2Thread()
			if err != nil {
				os.RemoveAll(dir)
				skipped = append(skipped, fmt.Sprintf("%s: hybrid cgroup host, and hiding cgroup v2 failed: %v", p.name, err))
				continue
			}
			run = ns.run
			cleanup = func() { ns.close(); os.RemoveAll(dir) }
		}
		t := &Target{System: p.name, Kind: KindPeer, Function: w.Name, MaxCalls: cfg.PeerCalls, Group: groupHeavy, close: cleanup,
			call: func(ctx context.Context) (Phases, bool, error) { return Phases{}, false, run(ctx, argv) }}
		targets = append(targets, t)
	}
	return targets, skipped
}

// rootfs makes dir/rootfs hold only the function (as /fn) and an empty /dev.
func rootfs(dir, fn string) error {
	root := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		return err
	}
	for _, d := range []string{"proc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(fn)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "fn"), b, 0o755)
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options,omitempty"`
}

// bundle writes a minimal OCI bundle: the rootfs above, read-only, and a
// process running /fn in fresh namespaces with no network.
func bundle(mounts []ociMount) func(dir, fn string) error {
	return func(dir, fn string) error {
		if err := rootfs(dir, fn); err != nil {
			return err
		}
		if mounts == nil {
			mounts = []ociMount{}
		}
		ns := []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}}
		spec := map[string]any{
			"ociVersion": "1.0.2",
			"process": map[string]any{
				"terminal": false, "user": map[string]int{"uid": 0, "gid": 0},
				"args": []string{"/fn"}, "env": []string{"TESSERA_QUIET=1"}, "cwd": "/",
				"capabilities": map[string][]string{}, "noNewPrivileges": true,
			},
			"root":     map[string]any{"path": "rootfs", "readonly": true},
			"hostname": "tessera",
			"mounts":   mounts,
			"linux":    map[string]any{"namespaces": ns},
		}
		b, err := json.MarshalIndent(spec, "", "  ")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	}
}

func runCommand(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TESSERA_QUIET=1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// isHybridCgroupHost reports a cgroup v1 host with a v2 hierarchy mounted
// at /sys/fs/cgroup/unified, which crun refuses.
func isHybridCgroupHost() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// hiddenCgroup2Thread is an OS thread with its own mount namespace in
// which a tmpfs covers /sys/fs/cgroup/unified. Commands it starts inherit
// that namespace; the host's mounts are untouched.
type hiddenCgroup2Thread struct {
	reqs chan nsReq
}

type nsReq struct {
	ctx  context.Context
	argv []string
	done chan error
}

func newHiddenCgroup2Thread() (*hiddenCgroup2Thread, error) {
	t := &hiddenCgroup2Thread{reqs: make(chan nsReq)}
	ready := make(chan error)
	go func() {
		// Never unlocked: the thread's namespace differs from the
		// process's, so it must die with this goroutine.
		runtime.LockOSThread()
		err := unix.Unshare(unix.CLONE_NEWNS)
		if err == nil {
			err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
		}
		if err == nil {
			err = unix.Mount("none", "/sys/fs/cgroup/unified", "tmpfs", 0, "")
		}
		ready <- err
		if err != nil {
			return
		}
		for r := range t.reqs {
			r.done <- runCommand(r.ctx, r.argv)
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return t, nil
}

func (t *hiddenCgroup2Thread) run(ctx context.Context, argv []string) error {
	done := make(chan error, 1)
	t.reqs <- nsReq{ctx, argv, done}
	return <-done
}

func (t *hiddenCgroup2Thread) close() { close(t.reqs) }
