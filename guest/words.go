package guest

// SplitWords splits a stdio/argv or stdio/environ item into words by the
// rule of docs/ABI.md §6: words are separated by whitespace (space, \t,
// \n, \v, \f, \r); '...' groups literally; "..." groups with backslash
// escapes; outside single quotes a backslash makes the next byte literal;
// adjacent quoted and plain parts join; "" is an empty word; an
// unterminated quote runs to the end.
func SplitWords(s []byte) []string {
	var words []string
	var cur []byte
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur = append(cur, c)
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur = append(cur, s[i])
			inWord = true
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				cur = append(cur, c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || (c >= '\t' && c <= '\r'):
			if inWord {
				words = append(words, string(cur))
				cur, inWord = cur[:0], false
			}
		default:
			cur = append(cur, c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, string(cur))
	}
	return words
}
