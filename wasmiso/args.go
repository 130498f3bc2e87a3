package wasmiso

import (
	"strings"

	"tessera/guest"
)

// argv returns the arguments of a stdio/argv item, split by the rule of
// docs/ABI.md §6 (guest.SplitWords is the reference). WASI arguments are
// C strings, so each is cut at a NUL, as a C program would see it.
func argv(item []byte) []string {
	words := guest.SplitWords(item)
	for i, w := range words {
		words[i], _, _ = strings.Cut(w, "\x00")
	}
	return words
}

// environ turns a stdio/environ item into key/value pairs. WASI (wazero)
// can only pass NAME=value entries with a nonempty name, so other words
// are dropped; of entries with the same name the first is kept, as a
// getenv that scans the environment in order finds it.
func environ(item []byte) (pairs []string) {
	seen := map[string]bool{}
	for _, w := range argv(item) {
		if k, v, ok := strings.Cut(w, "="); ok && k != "" && !seen[k] {
			seen[k] = true
			pairs = append(pairs, k, v)
		}
	}
	return pairs
}
