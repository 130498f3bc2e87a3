// Package dispatcher is tessera's control plane: a registry of functions
// (content-addressed binaries, parsed once) and compositions, the engines
// that run compute and communication functions, and the minimal HTTP worker
// that serves them.
package dispatcher
