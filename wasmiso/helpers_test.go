package wasmiso

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tessera/internal/sandbox"
	"tessera/loader"
)

// Test modules are built from testdata/ by the tests themselves: C with
// clang for wasm32-wasi, WAT with wat2wasm, Go with GOOS=wasip1. A test
// whose tool is missing skips. Builds are kept in one directory per test
// process, and so is wazero's compilation cache.

var (
	buildDir  string
	cacheDir  string
	buildMu   sync.Mutex
	buildMemo = map[string][]byte{}
)

func TestMain(m *testing.M) {
	var err error
	if buildDir, err = os.MkdirTemp("", "wasmiso-test-"); err != nil {
		panic(err)
	}
	cacheDir = filepath.Join(buildDir, "cache")
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

// build runs a tool once per distinct command and returns the file it
// wrote.
func build(t testing.TB, tool string, out string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed (scripts/deps.sh installs it)", tool)
	}
	key := tool + " " + strings.Join(args, " ")
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := buildMemo[key]; ok {
		return b
	}
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(buildDir, hex.EncodeToString(sum[:8])+"-"+out)
	cmd := exec.Command(tool, append(args, "-o", path)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", key, err, msg)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	buildMemo[key] = b
	return b
}

// cModule compiles testdata/<name>.c for wasm32-wasi with hlibc's tessera.h
// for wasm32 (keys, as the guests build them); extra flags such as -g go
// last.
func cModule(t testing.TB, name string, flags ...string) []byte {
	t.Helper()
	src := filepath.Join("testdata", name+".c")
	if strings.Contains(name, "/") { // a source elsewhere in the module
		src, name = name+".c", filepath.Base(name)
	}
	args := append([]string{"--target=wasm32-wasi", "-O2", "-I../hlibc/include",
		src, "../hlibc/src/tessera_wasm.c"}, flags...)
	return build(t, "clang", name+".wasm", args...)
}

// watModule assembles WAT text, keeping function names (--debug-names) so
// traps can be checked by name; flags are added (--no-check assembles an
// invalid module).
func watModule(t testing.TB, name, wat string, flags ...string) []byte {
	t.Helper()
	src := filepath.Join(buildDir, name+".wat")
	if err := os.WriteFile(src, []byte(wat), 0o644); err != nil {
		t.Fatal(err)
	}
	return build(t, "wat2wasm", name+".wasm", append([]string{"--debug-names", src}, flags...)...)
}

// goModule builds testdata/goguest with the Go toolchain for wasip1.
func goModule(t testing.TB) []byte {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	buildMu.Lock()
	b, ok := buildMemo["goguest"]
	buildMu.Unlock()
	if ok {
		return b
	}
	out := filepath.Join(buildDir, "goguest.wasm")
	cmd := exec.Command(gobin, "build", "-o", out, "./testdata/goguest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build a wasip1 module with %s: %v\n%s", gobin, err, msg)
	}
	if b, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	buildMu.Lock()
	buildMemo["goguest"] = b
	buildMu.Unlock()
	return b
}

func newRuntime(t testing.TB, cfg Config) *Runtime {
	t.Helper()
	if cfg.CacheDir == "" && !cfg.NoDiskCache {
		cfg.CacheDir = cacheDir
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func newBackend(t testing.TB, cfg Config) *Backend {
	t.Helper()
	if cfg.CacheDir == "" && !cfg.NoDiskCache {
		cfg.CacheDir = cacheDir
	}
	b, err := NewBackend(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testCase is a backend-independent description of one call and what must
// come out of it: the shape the cross-backend conformance suite uses, so
// these cases can move there unchanged.
type testCase struct {
	name    string
	binary  func(testing.TB) []byte
	spec    sandbox.Spec // Binary is filled from binary
	inputs  []loader.Set
	timeout time.Duration // 0: 30 s
	cancel  time.Duration // cancel the call after this long instead
	// check inspects the outcome; outs is nil when Run returned none.
	check func(t *testing.T, outs *loader.Outputs, err error)
}

func (c testCase) run(t *testing.T, b sandbox.Backend) {
	t.Helper()
	spec := c.spec
	spec.Name = c.name
	spec.Binary = c.binary(t)
	fn, err := b.Load(spec)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	timeout := c.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if c.cancel > 0 {
		time.AfterFunc(c.cancel, cancel)
	}
	outs, err := fn.Run(ctx, c.inputs)
	defer outs.Release()
	c.check(t, outs, err)
}

// set builds an input set from name/value pairs.
func set(name string, kv ...string) loader.Set {
	s := loader.Set{Ident: name}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Items = append(s.Items, loader.Item{Ident: kv[i], Data: []byte(kv[i+1])})
	}
	return s
}

// item returns the data of set/ident, failing the test if it is missing.
func item(t *testing.T, outs *loader.Outputs, set, ident string) string {
	t.Helper()
	if outs == nil {
		t.Fatalf("no outputs, want %s/%s", set, ident)
	}
	s := outs.Set(set)
	if s == nil {
		t.Fatalf("no output set %q in %v", set, describe(outs))
	}
	for _, it := range s.Items {
		if it.Ident == ident {
			return string(it.Data)
		}
	}
	t.Fatalf("no item %s/%s in %v", set, ident, describe(outs))
	return ""
}

// idents lists a set's item identifiers in order.
func idents(outs *loader.Outputs, set string) []string {
	s := outs.Set(set)
	if s == nil {
		return nil
	}
	var ids []string
	for _, it := range s.Items {
		ids = append(ids, it.Ident)
	}
	return ids
}

func describe(outs *loader.Outputs) string {
	var b bytes.Buffer
	for _, s := range outs.Sets {
		b.WriteString(s.Ident + ":[")
		for i, it := range s.Items {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(it.Ident)
		}
		b.WriteString("] ")
	}
	return b.String()
}

func noError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
}
