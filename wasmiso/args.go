package wasmiso

import "strings"

// SplitWords splits an argv or environ item into words the way hlibc does
// (docs/ABI.md §6), so a function sees the same argv on every backend:
//
//   - words are separated by runs of spaces, tabs, newlines or carriage
//     returns;
//   - single quotes group everything up to the next single quote literally;
//   - double quotes group up to the next unescaped double quote, and a
//     backslash inside them escapes the next byte;
//   - outside quotes a backslash escapes the next byte (a space, a quote,
//     a backslash);
//   - a quoted empty string is an empty word; an unterminated quote runs
//     to the end; a backslash at the very end stands for itself.
//
// A word is cut at its first NUL byte, as a C program would see it.
func SplitWords(s string) []string {
	var words []string
	var w strings.Builder
	in := false // inside a word (possibly an empty quoted one)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			if in {
				words = append(words, cutNUL(w.String()))
				w.Reset()
				in = false
			}
		case '\'':
			in = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				w.WriteString(s[i+1:])
				i = len(s)
			} else {
				w.WriteString(s[i+1 : i+1+j])
				i += 1 + j
			}
		case '"':
			in = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
		case '\\':
			in = true
			if i+1 < len(s) {
				i++
			}
			w.WriteByte(s[i])
		default:
			in = true
			w.WriteByte(c)
		}
	}
	if in {
		words = append(words, cutNUL(w.String()))
	}
	return words
}

func cutNUL(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// splitEnv turns environ words into key/value pairs. A word without '=' or
// with an empty name cannot be a variable and is dropped (wazero, like
// POSIX setenv, refuses both).
func splitEnv(words []string) (pairs []string) {
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok && k != "" {
			pairs = append(pairs, k, v)
		}
	}
	return pairs
}
