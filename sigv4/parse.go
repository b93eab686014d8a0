package sigv4

import (
	"strings"
	"time"
)

// Bounds that keep parsing cheap and results sane.
const (
	maxAccessKeyIDLen = 128
	maxRegionLen      = 64
	maxSignedHeaders  = 64
	signatureHexLen   = 64

	// maxAuthorizationLen bounds the Authorization header and maxQueryLen
	// the raw query string. Both are far above what any SDK sends (a long
	// STS session token encoded in a presigned URL stays under 8 KiB) and
	// far below the 1 MiB of request head net/http accepts.
	maxAuthorizationLen = 8 << 10
	maxQueryLen         = 32 << 10
	maxQueryParams      = 256
)

// credential is a parsed "<access key id>/<yyyymmdd>/<region>/<service>/aws4_request".
type credential struct {
	accessKeyID, date, region, service string
}

// scope returns the credential scope string.
func (c credential) scope() string { return credentialScope(c.date, c.region, c.service) }

// authorization is a parsed Authorization header.
type authorization struct {
	cred          credential
	signedHeaders []string
	signedRaw     string
	signature     string
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=a;b, Signature=<hex>".
// The three parameters may come in any order, separated by commas with or
// without spaces; each must appear exactly once.
func parseAuthorization(v string) (authorization, *Error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if alg != Algorithm {
		return a, fail(ErrIncompleteSignature, "Unsupported AWS 'algorithm': %q.", truncate(alg))
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		switch {
		case !ok:
			return a, fail(ErrIncompleteSignature, "Authorization header element is not a key=value pair: %q.", truncate(part))
		case key != "Credential" && key != "SignedHeaders" && key != "Signature":
			return a, fail(ErrIncompleteSignature, "Authorization header has an unknown element %q.", truncate(key))
		}
		if _, dup := fields[key]; dup {
			return a, fail(ErrIncompleteSignature, "Authorization header repeats the '%s' element.", key)
		}
		fields[key] = val
	}
	for _, key := range []string{"Credential", "SignedHeaders", "Signature"} {
		if _, ok := fields[key]; !ok {
			return a, fail(ErrIncompleteSignature, "Authorization header requires '%s' parameter.", key)
		}
	}
	return buildAuthorization(fields["Credential"], fields["SignedHeaders"], fields["Signature"])
}

// buildAuthorization validates the three signature elements, which come
// either from the Authorization header or from presign query parameters.
func buildAuthorization(cred, signedHeaders, sig string) (authorization, *Error) {
	var a authorization
	var err *Error
	if a.cred, err = parseCredential(cred); err != nil {
		return a, err
	}
	if a.signedHeaders, err = parseSignedHeaders(signedHeaders); err != nil {
		return a, err
	}
	a.signedRaw = signedHeaders
	if a.signature, err = parseSignature(sig); err != nil {
		return a, err
	}
	return a, nil
}

// parseCredential splits and checks a credential string.
func parseCredential(s string) (credential, *Error) {
	// Counted before splitting, so that a string of slashes costs nothing.
	if n := strings.Count(s, "/") + 1; n != 5 {
		return credential{}, fail(ErrIncompleteSignature,
			"Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request, got %d parts.", n)
	}
	parts := strings.Split(s, "/")
	c := credential{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	switch {
	case c.accessKeyID == "" || len(c.accessKeyID) > maxAccessKeyIDLen || !printable(c.accessKeyID):
		return c, fail(ErrIncompleteSignature, "Credential has an invalid access key id.")
	case !validScopeDate(c.date):
		return c, fail(ErrIncompleteSignature, "Credential has an invalid date %q.", truncate(c.date))
	case c.region == "" || c.service == "":
		return c, fail(ErrIncompleteSignature, "Credential must name a region and a service.")
	case parts[4] != scopeTerminator:
		return c, fail(ErrIncompleteSignature,
			"Credential should be scoped with a valid terminator: 'aws4_request', not %q.", truncate(parts[4]))
	}
	return c, nil
}

// validScopeDate reports whether s is a yyyymmdd date.
func validScopeDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	_, err := time.Parse(scopeDateLayout, s)
	return err == nil
}

// parseSignedHeaders splits "a;b;c" and checks each name is a lower-case
// header token that appears once.
func parseSignedHeaders(s string) ([]string, *Error) {
	if s == "" {
		return nil, fail(ErrIncompleteSignature, "SignedHeaders must not be empty.")
	}
	if strings.Count(s, ";") >= maxSignedHeaders {
		return nil, fail(ErrIncompleteSignature, "SignedHeaders lists more than %d headers.", maxSignedHeaders)
	}
	names := strings.Split(s, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if !headerToken(n) {
			return nil, fail(ErrIncompleteSignature, "SignedHeaders contains an invalid header name %q.", truncate(n))
		}
		if seen[n] {
			return nil, fail(ErrIncompleteSignature, "SignedHeaders repeats %q.", n)
		}
		seen[n] = true
	}
	return names, nil
}

// headerToken reports whether n is a non-empty lower-case HTTP token.
func headerToken(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// parseSignature checks for 64 hex digits and returns them in lower case.
func parseSignature(s string) (string, *Error) {
	if len(s) != signatureHexLen {
		return "", fail(ErrIncompleteSignature, "Signature must be %d hexadecimal digits.", signatureHexLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", fail(ErrIncompleteSignature, "Signature must be %d hexadecimal digits.", signatureHexLen)
		}
	}
	return strings.ToLower(s), nil
}

// parseAmzDate parses an ISO 8601 basic timestamp such as 20261121T210611Z.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(amzDateLayout, s)
	return t, err == nil
}

// printable reports whether s has only visible ASCII characters.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// truncate shortens client-supplied text quoted in error messages.
func truncate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
