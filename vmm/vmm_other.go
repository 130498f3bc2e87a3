//go:build !(linux && amd64)

package vmm

import (
	"context"
	"time"

	"tessera/loader"
)

// Config tunes an Engine.
type Config struct {
	MaxContextSize uint64
	WarmPages      int
}

// PoolConfig configures a Pool.
type PoolConfig struct {
	Config
	Engines    int
	MaxEngines int
	IdleTrim   time.Duration
}

// Engine is unavailable on this platform.
type Engine struct{}

// Pool is unavailable on this platform.
type Pool struct{}

// Available reports that the KVM backend needs Linux on x86-64.
func Available() error { return ErrUnsupported }

func NewEngine(Config) (*Engine, error) { return nil, ErrUnsupported }
func NewPool(PoolConfig) (*Pool, error) { return nil, ErrUnsupported }
func (*Engine) Close() error            { return nil }
func (*Pool) Close() error              { return nil }
func (*Pool) Engines() int              { return 0 }
func (*Engine) Run(context.Context, *loader.Function, []loader.Set) (*loader.Outputs, error) {
	return nil, ErrUnsupported
}
func (*Pool) Run(context.Context, *loader.Function, []loader.Set) (*loader.Outputs, error) {
	return nil, ErrUnsupported
}
