package sigv4

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sentinels are the failure classes a Verifier may report.
var sentinels = []error{
	ErrMissingAuthentication, ErrIncompleteSignature, ErrSignatureMismatch, ErrScopeMismatch,
	ErrUnknownAccessKey, ErrSignatureExpired, ErrSignatureNotYetCurrent, ErrLookupFailed,
}

// checkFailure asserts err is a well-formed *Error of a known class.
func checkFailure(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
		t.Fatalf("error %v (%T) is not a complete *Error", err, err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if e.Code != codeOf(s) {
				t.Fatalf("Code %q does not match class %v", e.Code, s)
			}
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

// captureHeaders returns every Authorization header in the captures.
func captureHeaders(f *testing.F) []string {
	var out []string
	for _, c := range loadCaptures(f) {
		if c.presigned() {
			continue
		}
		r, _ := readRequest(f, c.raw)
		out = append(out, r.Header.Get("Authorization"))
	}
	return out
}

func FuzzParseAuthorization(f *testing.F) {
	for _, h := range captureHeaders(f) {
		f.Add(h)
	}
	for _, s := range []string{
		"", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 ,,,", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e",
		"AWS4-HMAC-SHA256 Credential==, SignedHeaders==, Signature==",
		"AWS4-HMAC-SHA256 Credential=" + strings.Repeat("/", 200),
		"AWS4-HMAC-SHA256 SignedHeaders=" + strings.Repeat("a;", 100) + "a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseAuthorization(header)
		if err != nil {
			if !errors.Is(err, ErrIncompleteSignature) || err.Code != CodeIncompleteSignature {
				t.Fatalf("parse error of the wrong class: %v", err)
			}
			return
		}
		if len(a.signature) != signatureHexLen || strings.ToLower(a.signature) != a.signature {
			t.Fatalf("accepted signature %q", a.signature)
		}
		c := a.cred
		if c.accessKeyID == "" || !validScopeDate(c.date) || c.region == "" || c.service == "" {
			t.Fatalf("accepted credential %+v", c)
		}
		if len(a.signedHeaders) == 0 || strings.Join(a.signedHeaders, ";") != a.signedRaw {
			t.Fatalf("accepted signed headers %q", a.signedRaw)
		}
	})
}

// presignedQuery returns the raw query and host of the presigned captures.
func presignedQueries(f *testing.F) [][2]string {
	var out [][2]string
	for _, c := range loadCaptures(f) {
		if c.presigned() {
			r, _ := readRequest(f, c.raw)
			out = append(out, [2]string{r.URL.RawQuery, r.Host})
		}
	}
	return out
}

func FuzzVerifyPresigned(f *testing.F) {
	for _, q := range presignedQueries(f) {
		f.Add(q[0], q[1])
	}
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=%", "h")
	f.Add("&&&=&=%41", "")
	// The clock sits at the captures' signing time so that mutations get past
	// the time checks and reach the signature code.
	v := verifierAt(time.Date(2026, 11, 21, 21, 8, 22, 0, time.UTC))
	f.Fuzz(func(t *testing.T, rawQuery, host string) {
		r := &http.Request{
			Method:     http.MethodGet,
			URL:        &url.URL{Path: "/", RawQuery: rawQuery},
			RequestURI: "/?" + rawQuery,
			Host:       host,
			Header:     http.Header{},
		}
		res, err := v.VerifyPresigned(r)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if res == nil || res.AccessKeyID != testAccessKey || res.Expires.Before(res.SignedAt) {
			t.Fatalf("bad result %+v", res)
		}
	})
}

// FuzzVerifyRequest feeds arbitrary raw HTTP requests to VerifyRequest.
func FuzzVerifyRequest(f *testing.F) {
	for _, c := range loadCaptures(f) {
		if !c.presigned() {
			f.Add(c.raw)
		}
	}
	v := verifierAt(time.Date(2026, 11, 21, 21, 6, 38, 0, time.UTC))
	f.Fuzz(func(t *testing.T, raw string) {
		r, body, ok := tryReadRequest(raw)
		if !ok {
			return
		}
		if _, err := v.VerifyRequest(r, body); err != nil {
			checkFailure(t, err)
		}
	})
}

// tryReadRequest parses raw HTTP text, reporting whether it was a request.
func tryReadRequest(raw string) (*http.Request, []byte, bool) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\n")))
	if err != nil {
		return nil, nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return nil, nil, false
	}
	return r, body, true
}
