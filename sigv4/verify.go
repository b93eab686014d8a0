package sigv4

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Default time allowances (spec sections 7.3 and 7.5).
const (
	DefaultMaxSkew     = 15 * time.Minute
	DefaultPresignSkew = 5 * time.Minute
)

// SecretLookup returns the secret access key of an access key id. When the
// key is unknown it returns an error wrapping ErrUnknownAccessKey; any other
// error, and an empty secret, are treated as an internal failure
// (ErrLookupFailed). It is called with the request's context, only after the
// request has passed every check that needs no secret.
type SecretLookup func(ctx context.Context, accessKeyID string) (secret string, err error)

// Verifier checks SigV4 signatures on received requests. Configure it once;
// it is safe for concurrent use and must not be modified while in use.
type Verifier struct {
	// Service is the service the credential scope must name, e.g.
	// "kinesisvideo". Empty rejects every request.
	Service string
	// Region is the region the credential scope must name; "" accepts any
	// well-formed region (lower-case letters, digits and '-').
	Region string
	// Lookup finds secrets by access key id. Required.
	Lookup SecretLookup
	// MaxSkew is how far a header-signed request's date may be from now in
	// either direction; DefaultMaxSkew when zero.
	MaxSkew time.Duration
	// PresignSkew is how far in the future a presigned URL's X-Amz-Date may
	// be; DefaultPresignSkew when zero.
	PresignSkew time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Result describes a request whose signature verified.
type Result struct {
	AccessKeyID string
	Region      string // from the credential scope
	Service     string // from the credential scope
	// SessionToken is X-Amz-Security-Token from the header (REST) or the
	// query (presigned), signed or not. The Verifier does not check it: for
	// temporary credentials the caller must compare it with the stored one.
	SessionToken  string
	SignedAt      time.Time
	Expires       time.Time // presigned only: SignedAt + X-Amz-Expires
	SignedHeaders []string
}

// claim is what a request asserts about its signature, before checking.
type claim struct {
	authorization
	signedAt     time.Time
	token        string
	tokenInQuery bool // presigned only: X-Amz-Security-Token is a query parameter
}

// VerifyRequest verifies a header-signed request (Authorization header). body
// must be the exact request body; the caller reads it (with a size limit)
// before calling and restores r.Body if handlers need it. On failure the
// error is an *Error and the Result is nil.
func (v *Verifier) VerifyRequest(r *http.Request, body []byte) (*Result, error) {
	if r == nil || r.URL == nil {
		return nil, fail(ErrMissingAuthentication, msgMissingAuth)
	}
	c, err := headerClaim(r)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(c); err != nil {
		return nil, err
	}
	if err := checkSkew(c.signedAt, v.now(), orDefault(v.MaxSkew, DefaultMaxSkew)); err != nil {
		return nil, err
	}
	payloadHash := hashHex(body)
	if sent := r.Header.Values(headerContentSHA256); len(sent) > 0 &&
		(len(sent) != 1 || subtle.ConstantTimeCompare([]byte(sent[0]), []byte(payloadHash)) != 1) {
		return nil, fail(ErrSignatureMismatch, msgContentHash)
	}
	params, err := receivedQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	forms := canonicalForms(r, canonicalURI(requestPath(r)), canonicalQuery(params),
		c.signedHeaders, c.signedRaw, payloadHash)
	if err := v.checkSignature(r.Context(), c, forms); err != nil {
		return nil, err
	}
	return c.result(), nil
}

// headerClaim reads the Authorization header and the signing date.
func headerClaim(r *http.Request) (claim, *Error) {
	var c claim
	values := r.Header.Values(headerAuthorization)
	switch {
	case len(values) == 0:
		return c, fail(ErrMissingAuthentication, msgMissingAuth)
	case len(values) > 1:
		return c, fail(ErrIncompleteSignature, "Only one Authorization header is allowed.")
	case len(values[0]) > maxAuthorizationLen:
		return c, fail(ErrIncompleteSignature, "The Authorization header is %d bytes long; the limit is %d bytes.",
			len(values[0]), maxAuthorizationLen)
	}
	a, err := parseAuthorization(values[0])
	if err != nil {
		return c, err
	}
	c.authorization = a
	if err := requireSigned(a.signedHeaders, "host"); err != nil {
		return c, err
	}
	if c.signedAt, err = signingDate(r, a.signedHeaders); err != nil {
		return c, err
	}
	c.token = r.Header.Get(headerSecurityToken)
	return c, nil
}

// signingDate returns the signing time from X-Amz-Date, or from Date when
// there is no X-Amz-Date, and checks that the header it used is signed.
func signingDate(r *http.Request, signed []string) (time.Time, *Error) {
	if vals := r.Header.Values(headerAmzDate); len(vals) > 0 {
		t, ok := parseAmzDate(vals[0])
		if len(vals) > 1 || !ok {
			return t, fail(ErrIncompleteSignature,
				"X-Amz-Date must be a single ISO 8601 basic timestamp such as 20261121T210611Z.")
		}
		return t, requireSigned(signed, "x-amz-date")
	}
	if vals := r.Header.Values(headerDate); len(vals) > 0 {
		t, err := http.ParseTime(vals[0])
		if len(vals) > 1 || err != nil {
			return t, fail(ErrIncompleteSignature, "Date must be a single HTTP date.")
		}
		return t.UTC(), requireSigned(signed, "date")
	}
	return time.Time{}, fail(ErrIncompleteSignature,
		"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// receivedQuery parses the raw query of a received request. A query over
// maxQueryLen bytes or with more than maxQueryParams parameters is refused
// before it is split, so that an oversized request costs no allocation.
func receivedQuery(raw string) ([]queryParam, *Error) {
	if len(raw) > maxQueryLen {
		return nil, fail(ErrIncompleteSignature, "The query string is %d bytes long; the limit is %d bytes.",
			len(raw), maxQueryLen)
	}
	if strings.Count(raw, "&") >= maxQueryParams {
		return nil, fail(ErrIncompleteSignature, "The query string has more than %d parameters.", maxQueryParams)
	}
	params, err := parseQuery(raw)
	if err != nil {
		return nil, fail(ErrIncompleteSignature, "The query string is malformed.")
	}
	return params, nil
}

// requireSigned fails unless name is among the signed headers.
func requireSigned(signed []string, name string) *Error {
	if slices.Contains(signed, name) {
		return nil
	}
	return fail(ErrIncompleteSignature, "The '%s' header must be signed.", name)
}

// checkScope compares the credential scope with the Verifier's service and
// region and with the signing day.
func (v *Verifier) checkScope(c claim) *Error {
	cred := c.cred
	if v.Region != "" && cred.region != v.Region || !validRegion(cred.region) {
		return fail(ErrScopeMismatch, "Credential should be scoped to a valid region.")
	}
	if v.Service == "" || cred.service != v.Service {
		return fail(ErrScopeMismatch, "Credential should be scoped to correct service: '%s'.", v.Service)
	}
	if day := c.signedAt.Format(scopeDateLayout); cred.date != day {
		return fail(ErrScopeMismatch,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			cred.date, day, c.signedAt.Format(amzDateLayout))
	}
	return nil
}

// validRegion accepts lower-case letters, digits and '-', which covers every
// AWS region and keeps odd characters out of the ARNs built from it.
func validRegion(r string) bool {
	if r == "" || len(r) > maxRegionLen {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

var errEmptySecret = errors.New("sigv4: secret lookup returned an empty secret")

// checkSignature looks up the secret and compares, in constant time, the
// signature with the one of each canonical form of the request (see
// canonicalForms); the first form is the one a mismatch reports.
func (v *Verifier) checkSignature(ctx context.Context, c claim, forms []string) *Error {
	if v.Lookup == nil {
		return fail(ErrLookupFailed, msgInternalLookup)
	}
	secret, err := v.Lookup(ctx, c.cred.accessKeyID)
	if err == nil && secret == "" {
		// Fail closed: an empty secret would let anyone sign for this key.
		err = errEmptySecret
	}
	if err != nil {
		return lookupError(err)
	}
	amzDate, scope := c.signedAt.Format(amzDateLayout), c.cred.scope()
	for _, canonical := range forms {
		want := signature(secret, c.cred.date, c.cred.region, c.cred.service, stringToSign(amzDate, scope, canonical))
		if subtle.ConstantTimeCompare([]byte(want), []byte(c.signature)) == 1 {
			return nil
		}
	}
	e := fail(ErrSignatureMismatch, msgMismatch)
	e.CanonicalRequest = forms[0]
	return e
}

// result turns a verified claim into a Result.
func (c claim) result() *Result {
	return &Result{
		AccessKeyID:   c.cred.accessKeyID,
		Region:        c.cred.region,
		Service:       c.cred.service,
		SessionToken:  c.token,
		SignedAt:      c.signedAt,
		SignedHeaders: slices.Clone(c.signedHeaders),
	}
}

// now returns the Verifier's current time in UTC.
func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
