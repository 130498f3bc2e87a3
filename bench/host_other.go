//go:build !unix

package bench

func kernelRelease() string { return "" }
