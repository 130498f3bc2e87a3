//go:build !(linux && amd64)

package seccompiso

import (
	"context"
	"errors"

	"tessera/loader"
)

// ErrUnsupported: the process backends need Linux on x86-64.
var ErrUnsupported = errors.New("seccompiso: needs Linux on x86-64")

// Config configures a Runner.
type Config struct{}

// Runner is unavailable on this platform.
type Runner struct{}

// New reports that this platform is unsupported.
func New(Config) (*Runner, error) { return nil, ErrUnsupported }

// Run reports that this platform is unsupported.
func (*Runner) Run(context.Context, *loader.Function, []loader.Set) (*loader.Outputs, error) {
	return nil, ErrUnsupported
}

// Close does nothing.
func (*Runner) Close() error { return nil }
