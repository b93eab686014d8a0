package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Algorithm is the only signing algorithm this package speaks.
const Algorithm = "AWS4-HMAC-SHA256"

// EmptyPayloadHash is the hex SHA-256 of the empty string: the payload hash of
// presigned URLs and of requests without a body.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Time layouts of X-Amz-Date and of the credential scope date.
const (
	amzDateLayout   = "20060102T150405Z"
	scopeDateLayout = "20060102"
	scopeTerminator = "aws4_request"
)

// Names of the presign query parameters and of the headers with a special role.
const (
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSecurityToken = "X-Amz-Security-Token"
	paramSignature     = "X-Amz-Signature"

	headerAuthorization = "Authorization"
	headerAmzDate       = "X-Amz-Date"
	headerDate          = "Date"
	headerSecurityToken = "X-Amz-Security-Token"
	headerContentSHA256 = "X-Amz-Content-Sha256"
	headerContentType   = "Content-Type"
)

const upperHex = "0123456789ABCDEF"

// unreserved reports whether SigV4 leaves c as it is when encoding.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// escape percent-encodes s the SigV4 way: unreserved bytes stay, every other
// byte becomes %XX with upper-case hex. With keepSlash, '/' stays too (paths).
func escape(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && !(keepSlash && s[i] == '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// canonicalURI encodes an already escaped request path the way SigV4 wants it
// for every service except S3: each byte outside the unreserved set and '/'
// is encoded again, so "%20" on the wire becomes "%2520". An empty path is "/".
// Dot segments are not removed (the AWS SDK for Go v2 does not remove them).
func canonicalURI(escapedPath string) string {
	if escapedPath == "" {
		return "/"
	}
	return escape(escapedPath, true)
}

// requestPath returns the path of a received request exactly as it came over
// the wire when it can, else the URL's escaped path.
func requestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.EscapedPath()
}

// queryParam is one decoded query parameter.
type queryParam struct{ name, value string }

var errBadQuery = errors.New("malformed query string")

// parseQuery splits a raw query into decoded parameters, keeping order and
// duplicates. '+' decodes to a space, as in form encoding, because that is
// how the AWS SDKs read a query before signing it.
func parseQuery(raw string) ([]queryParam, error) {
	if raw == "" {
		return nil, nil
	}
	params := make([]queryParam, 0, strings.Count(raw, "&")+1)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, errBadQuery
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, errBadQuery
		}
		params = append(params, queryParam{name, value})
	}
	return params, nil
}

// canonicalQuery encodes, sorts (by encoded name, then encoded value) and
// joins params, leaving out every parameter named in skip.
func canonicalQuery(params []queryParam, skip ...string) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if slices.Contains(skip, p.name) {
			continue
		}
		enc = append(enc, queryParam{escape(p.name, false), escape(p.value, false)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].name != enc[j].name {
			return enc[i].name < enc[j].name
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// Signers disagree on the whitespace inside a header value. The SigV4
// documentation and the AWS SDK for Go v2 trim the ends and collapse runs of
// spaces only (a tab inside stays); botocore (the AWS CLI) and the AWS SDK for
// JavaScript v3 trim every kind of whitespace and turn each inner run of it,
// tabs included, into one space. The signer the KVS C SDKs share (producer C
// SDK, used by the WebRTC C SDK) only trims the ends and keeps inner runs of
// spaces, which its user agent can hold when one of its parts is empty. A
// verifier cannot tell them apart, so it accepts any of these forms (see
// canonicalForms).

// cleanValue trims a header value and collapses inner runs of spaces, as the
// SigV4 documentation and the AWS SDK for Go v2 do.
func cleanValue(v string) string {
	v = strings.Trim(v, " \t")
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// cleanAllWhitespace trims a header value and turns each inner run of
// whitespace into one space, as botocore and the AWS SDK for JavaScript v3 do.
func cleanAllWhitespace(v string) string { return strings.Join(strings.Fields(v), " ") }

// trimEnds trims a header value and leaves its inside as it is, as the KVS C
// SDKs' signer does.
func trimEnds(v string) string { return strings.Trim(v, " \t") }

// anySignedValue reports whether a value of one of the signed headers
// satisfies holds.
func anySignedValue(r *http.Request, names []string, holds func(string) bool) bool {
	for _, n := range names {
		if slices.ContainsFunc(r.Header.Values(n), holds) {
			return true
		}
	}
	return false
}

// otherWhitespace reports whether a value of one of the signed headers holds
// a byte that may be whitespace other than a space (a tab, a control
// character, or part of a non-ASCII character). Without one, cleanValue and
// cleanAllWhitespace give the same result.
func otherWhitespace(r *http.Request, names []string) bool {
	return anySignedValue(r, names, func(v string) bool {
		return strings.IndexFunc(v, func(c rune) bool { return c < ' ' || c >= 0x7f }) >= 0
	})
}

// innerSpaceRun reports whether a value of one of the signed headers holds
// two spaces in a row. Without them, trimEnds and cleanValue give the same
// result.
func innerSpaceRun(r *http.Request, names []string) bool {
	return anySignedValue(r, names, func(v string) bool { return strings.Contains(v, "  ") })
}

// headerValue returns the canonical value of the lower-case header name on r,
// each value cleaned by clean: host from r.Host, repeated headers joined
// with ','.
func headerValue(r *http.Request, name string, clean func(string) string) string {
	if name == "host" {
		if r.Host != "" {
			return clean(r.Host)
		}
		if r.URL != nil {
			return clean(r.URL.Host)
		}
		return ""
	}
	values := r.Header.Values(name)
	if len(values) == 0 && name == "content-length" && r.ContentLength >= 0 {
		// Requests built by a Go client carry the length outside Header.
		return strconv.FormatInt(r.ContentLength, 10)
	}
	if len(values) == 1 {
		return clean(values[0])
	}
	cleaned := make([]string, len(values))
	for i, v := range values {
		cleaned[i] = clean(v)
	}
	return strings.Join(cleaned, ",")
}

// canonicalHeaders renders "name:value\n" for each signed header, in the
// order given, with values cleaned by clean.
func canonicalHeaders(r *http.Request, names []string, clean func(string) string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(headerValue(r, n, clean))
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalRequest joins the six parts of a SigV4 canonical request. headers
// already ends in a newline, which yields the blank line the format has.
func canonicalRequest(method, uri, query, headers, signedHeaders, payloadHash string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" + signedHeaders + "\n" + payloadHash
}

// canonicalForms returns the canonical request of a received request as
// the SigV4 documentation defines it; when a signed header value holds other
// whitespace than spaces, also as botocore and the AWS SDK for JavaScript v3
// compute it; and when one holds two spaces in a row, also as the KVS C SDKs
// compute it. The extra forms are only built when they can differ.
func canonicalForms(r *http.Request, uri, query string, signed []string, signedRaw, payloadHash string) []string {
	form := func(clean func(string) string) string {
		return canonicalRequest(r.Method, uri, query, canonicalHeaders(r, signed, clean), signedRaw, payloadHash)
	}
	forms := []string{form(cleanValue)}
	if otherWhitespace(r, signed) {
		forms = append(forms, form(cleanAllWhitespace))
	}
	if innerSpaceRun(r, signed) {
		forms = append(forms, form(trimEnds))
	}
	return forms
}

// hashHex returns the lower-case hex SHA-256 of b.
func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// credentialScope returns "<yyyymmdd>/<region>/<service>/aws4_request".
func credentialScope(date, region, service string) string {
	return date + "/" + region + "/" + service + "/" + scopeTerminator
}

// stringToSign builds the SigV4 string to sign for a canonical request.
func stringToSign(amzDate, scope, canonical string) string {
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hashHex([]byte(canonical))
}
