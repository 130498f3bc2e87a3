package guest

import (
	"bytes"
	"fmt"
)

// HTTPRequest is an HTTP request item, the input format of Dandelion's
// HTTP communication function (docs/ABI.md §6.1):
//
//	METHOD SP absolute-URI SP HTTP/1.1 LF
//	key:value LF      (zero or more)
//	LF
//	body
type HTTPRequest struct {
	Method, URI string
	Header      [][2]string // in order; values may start with a space
	Body        []byte
}

// Bytes encodes r as an item.
func (r HTTPRequest) Bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\n", r.Method, r.URI)
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s:%s\n", h[0], h[1])
	}
	b.WriteByte('\n')
	b.Write(r.Body)
	return b.Bytes()
}

// ParseHTTPRequest decodes an item, splitting lines at LF only, as
// Dandelion's parser does.
func ParseHTTPRequest(item []byte) (HTTPRequest, error) {
	var r HTTPRequest
	line, rest, ok := bytes.Cut(item, []byte("\n"))
	if !ok {
		return r, fmt.Errorf("http: no request line")
	}
	f := bytes.Fields(line)
	if len(f) != 3 || string(f[2]) != "HTTP/1.1" {
		return r, fmt.Errorf("http: request line %q", line)
	}
	r.Method, r.URI = string(f[0]), string(f[1])
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return r, fmt.Errorf("http: headers not terminated")
		}
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, fmt.Errorf("http: header line %q", line)
		}
		r.Header = append(r.Header, [2]string{string(k), string(v)})
	}
	r.Body = rest
	return r, nil
}
