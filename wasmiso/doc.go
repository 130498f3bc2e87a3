// Package wasmiso runs compute functions compiled to WebAssembly on wazero:
// each module is compiled once and every call gets a new instance with fresh
// linear memory, its input sets as read-only WASI folders and its output
// sets as writable ones.
package wasmiso
