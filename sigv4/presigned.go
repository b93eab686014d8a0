package sigv4

import (
	"net/http"
	"time"
)

// presignRequired are the query parameters every presigned URL must carry.
var presignRequired = []string{
	paramAlgorithm, paramCredential, paramDate, paramExpires, paramSignedHeaders, paramSignature,
}

// VerifyPresigned verifies a query-signed request (a presigned URL), such as
// the KVS WebSocket upgrade. The canonical query holds every received
// parameter except X-Amz-Signature, whatever its order on the wire; unknown
// parameters are included because the client signed them. X-Amz-Security-Token
// may be inside it or, as some signers append it after signing, outside it;
// either way it is reported in Result.SessionToken. The payload hash
// is EmptyPayloadHash. The request is accepted while
// X-Amz-Date - PresignSkew <= now <= X-Amz-Date + X-Amz-Expires.
// On failure the error is an *Error and the Result is nil.
func (v *Verifier) VerifyPresigned(r *http.Request) (*Result, error) {
	if r == nil || r.URL == nil {
		return nil, fail(ErrMissingAuthentication, msgMissingAuth)
	}
	params, ferr := receivedQuery(r.URL.RawQuery)
	if ferr != nil {
		return nil, ferr
	}
	c, expires, ferr := presignClaim(params)
	if ferr != nil {
		return nil, ferr
	}
	if c.token == "" {
		c.token = r.Header.Get(headerSecurityToken)
	}
	if ferr := v.checkScope(c); ferr != nil {
		return nil, ferr
	}
	skew := orDefault(v.PresignSkew, DefaultPresignSkew)
	if ferr := checkPresignWindow(c.signedAt, v.now(), expires, skew); ferr != nil {
		return nil, ferr
	}
	uri := canonicalURI(requestPath(r))
	forms := canonicalForms(r, uri, canonicalQuery(params, paramSignature),
		c.signedHeaders, c.signedRaw, EmptyPayloadHash)
	if c.tokenInQuery {
		// Some signers append the session token after signing, so it may
		// be outside the canonical query. The caller still checks it.
		forms = append(forms, canonicalForms(r, uri, canonicalQuery(params, paramSignature, paramSecurityToken),
			c.signedHeaders, c.signedRaw, EmptyPayloadHash)...)
	}
	if ferr := v.checkSignature(r.Context(), c, forms); ferr != nil {
		return nil, ferr
	}
	res := c.result()
	res.Expires = c.signedAt.Add(expires)
	return res, nil
}

// presignClaim extracts and checks the signature parameters of a presigned
// URL.
func presignClaim(params []queryParam) (claim, time.Duration, *Error) {
	var c claim
	got, err := presignValues(params)
	if err != nil {
		return c, 0, err
	}
	if got[paramAlgorithm] != Algorithm {
		return c, 0, fail(ErrIncompleteSignature, "X-Amz-Algorithm must be %s.", Algorithm)
	}
	if c.authorization, err = buildAuthorization(got[paramCredential], got[paramSignedHeaders], got[paramSignature]); err != nil {
		return c, 0, err
	}
	if err := requireSigned(c.signedHeaders, "host"); err != nil {
		return c, 0, err
	}
	var ok bool
	if c.signedAt, ok = parseAmzDate(got[paramDate]); !ok {
		return c, 0, fail(ErrIncompleteSignature,
			"X-Amz-Date must be an ISO 8601 basic timestamp such as 20261121T210611Z.")
	}
	expires, ok := parseExpires(got[paramExpires])
	if !ok {
		return c, 0, fail(ErrIncompleteSignature,
			"X-Amz-Expires must be a whole number of seconds from 1 to %d.", maxExpiresSeconds)
	}
	c.token, c.tokenInQuery = got[paramSecurityToken]
	return c, expires, nil
}

// presignValues collects the signature parameters, refusing duplicates and
// telling a URL with no signature at all from one with a partial signature.
func presignValues(params []queryParam) (map[string]string, *Error) {
	got := make(map[string]string, len(presignParams))
	for _, p := range params {
		if !presignParams[p.name] {
			continue
		}
		if _, dup := got[p.name]; dup {
			return nil, fail(ErrIncompleteSignature, "The query parameter %s appears more than once.", p.name)
		}
		got[p.name] = p.value
	}
	_, hasToken := got[paramSecurityToken]
	if len(got) == 0 || len(got) == 1 && hasToken {
		return nil, fail(ErrMissingAuthentication, msgMissingAuth)
	}
	for _, name := range presignRequired {
		if _, ok := got[name]; !ok {
			return nil, fail(ErrIncompleteSignature, "The presigned URL requires the %s parameter.", name)
		}
	}
	return got, nil
}

// parseExpires accepts 1 to 604800 written as plain decimal digits.
func parseExpires(s string) (time.Duration, bool) {
	if s == "" || len(s) > 7 {
		return 0, false
	}
	n := int64(0)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	if n < 1 || n > maxExpiresSeconds {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}
