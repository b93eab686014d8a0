package sigv4

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in  string
		keepSlash bool
		want      string
	}{
		{"empty", "", false, ""},
		{"unreserved", "AZaz09-_.~", false, "AZaz09-_.~"},
		{"space", "a b", false, "a%20b"},
		{"plus", "a+b", false, "a%2Bb"},
		{"slash in query", "a/b", false, "a%2Fb"},
		{"slash in path", "/a/b", true, "/a/b"},
		{"sub-delims", "!'()*", false, "%21%27%28%29%2A"},
		{"percent", "%20", true, "%2520"},
		{"utf-8", "ü", false, "%C3%BC"},
		{"arn", "arn:aws:kinesisvideo", false, "arn%3Aaws%3Akinesisvideo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := escape(tt.in, tt.keepSlash); got != tt.want {
				t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanValue(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"trim", "  a  ", "a"},
		{"collapse", "attempt=1;   max=3", "attempt=1; max=3"},
		{"tabs at the ends", "\ta b\t", "a b"},
		{"inner tab kept", "a\tb", "a\tb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanValue(tt.in); got != tt.want {
				t.Errorf("cleanValue(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ name, raw, skip, want string }{
		{"empty", "", "", ""},
		{"sorted by name then value", "b=2&a=2&a=1", "", "a=1&a=2&b=2"},
		{"sorted after encoding", "a-b=1&a/b=2", "", "a%2Fb=2&a-b=1"},
		{"plus is a space", "q=a+b", "", "q=a%20b"},
		{"re-encoded", "x=%7e%2f%3A", "", "x=~%2F%3A"},
		{"no value", "flag&v=", "", "flag=&v="},
		{"skipped", "X-Amz-Signature=abc&z=1", "X-Amz-Signature", "z=1"},
		{"empty parts ignored", "&&a=1&", "", "a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, err := parseQuery(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			var skip []string
			if tt.skip != "" {
				skip = append(skip, tt.skip)
			}
			if got := canonicalQuery(params, skip...); got != tt.want {
				t.Errorf("canonicalQuery(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseExpires(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true}, {"299", 299 * time.Second, true}, {"604800", MaxPresignExpires, true},
		{"0", 0, false}, {"604801", 0, false}, {"", 0, false}, {"-1", 0, false}, {"+1", 0, false},
		{"1.5", 0, false}, {" 1", 0, false}, {"99999999999999999999", 0, false}, {"0001", time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseExpires(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseExpires(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestHeaderValueFallbacks(t *testing.T) {
	r := &http.Request{URL: &url.URL{Host: "example.com:8443"}, Header: http.Header{}, ContentLength: 42}
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", " b  c ")
	tests := []struct{ name, header, want string }{
		{"host from URL", "host", "example.com:8443"},
		{"content-length from field", "content-length", "42"},
		{"repeated header", "x-multi", "a,b c"},
		{"absent header", "x-none", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headerValue(r, tt.header, cleanValue); got != tt.want {
				t.Errorf("headerValue(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

// The signing-key example from the AWS documentation.
func TestDeriveKey(t *testing.T) {
	got := hex.EncodeToString(deriveKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"))
	const want = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
	if got != want {
		t.Fatalf("deriveKey = %s, want %s", got, want)
	}
}

func TestKeyCacheBoundedAndConcurrent(t *testing.T) {
	const size = 4
	c := newKeyCache(size)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := keyID{secret: "s", date: "20261121", region: fmt.Sprintf("r-%d", (g+i)%10), service: "kinesisvideo"}
				if got, want := c.get(id), deriveKey(id.secret, id.date, id.region, id.service); string(got) != string(want) {
					t.Errorf("cached key for %v differs", id)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(c.keys); n > size {
		t.Fatalf("cache holds %d keys, limit %d", n, size)
	}
}
