package sigv4

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxPresignExpires is the longest validity a presigned URL may have
// (604800 seconds), in line with AWS and the KVS C SDK's clamp.
const MaxPresignExpires = 7 * 24 * time.Hour

const maxExpiresSeconds = int64(MaxPresignExpires / time.Second)

// Credentials are what a client signs with. SessionToken is set only for
// temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// validate reports whether the signing inputs are usable.
func (c Credentials) validate(region, service string) error {
	switch {
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return errors.New("sigv4: access key id and secret access key are required")
	case region == "" || service == "":
		return errors.New("sigv4: region and service are required")
	}
	return nil
}

// SignRequest signs a header-authenticated request in place. It sets
// X-Amz-Date, X-Amz-Security-Token when creds has a session token, and
// Authorization (replacing any earlier one). The signed headers are host,
// x-amz-date, and content-type and x-amz-security-token when present. body
// must be exactly the bytes that will be sent; the caller sets r.Body.
// The host is r.Host, or r.URL.Host when r.Host is empty.
func SignRequest(r *http.Request, body []byte, creds Credentials, region, service string, now time.Time) error {
	if err := creds.validate(region, service); err != nil {
		return err
	}
	if r == nil || r.URL == nil {
		return errors.New("sigv4: request has no URL")
	}
	if r.Host == "" && r.URL.Host == "" {
		return errors.New("sigv4: request has no host")
	}
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return errors.New("sigv4: " + err.Error())
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	amzDate := now.UTC().Format(amzDateLayout)
	r.Header.Del(headerAuthorization)
	r.Header.Set(headerAmzDate, amzDate)
	if creds.SessionToken != "" {
		r.Header.Set(headerSecurityToken, creds.SessionToken)
	}

	names := make([]string, 0, 4)
	if r.Header.Get(headerContentType) != "" {
		names = append(names, "content-type")
	}
	names = append(names, "host", "x-amz-date")
	if r.Header.Get(headerSecurityToken) != "" {
		names = append(names, "x-amz-security-token")
	}
	signed := strings.Join(names, ";")

	canonical := canonicalRequest(r.Method, canonicalURI(r.URL.EscapedPath()),
		canonicalQuery(params), canonicalHeaders(r, names, cleanValue), signed, hashHex(body))
	date := amzDate[:8]
	scope := credentialScope(date, region, service)
	sig := signature(creds.SecretAccessKey, date, region, service, stringToSign(amzDate, scope, canonical))
	r.Header.Set(headerAuthorization, Algorithm+" Credential="+creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signed+", Signature="+sig)
	return nil
}

// presignParams are the query parameters PresignURL owns; any earlier value
// of them on the input URL is replaced.
var presignParams = map[string]bool{
	paramAlgorithm: true, paramCredential: true, paramDate: true, paramExpires: true,
	paramSignedHeaders: true, paramSecurityToken: true, paramSignature: true,
}

// PresignURL returns a copy of u with the SigV4 query parameters added:
// X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders=host, X-Amz-Security-Token when creds has one, and
// X-Amz-Signature (last). Query parameters already on u, such as
// X-Amz-ChannelARN and X-Amz-ClientId, are signed along with the session
// token, as KVS requires. The method signed is GET, the host is u.Host and the
// payload hash is EmptyPayloadHash. It works for wss:// and https:// URLs.
// expires is truncated to whole seconds and must be within 1s and
// MaxPresignExpires.
func PresignURL(u *url.URL, creds Credentials, region, service string, now time.Time, expires time.Duration) (*url.URL, error) {
	if err := creds.validate(region, service); err != nil {
		return nil, err
	}
	if u == nil || u.Host == "" {
		return nil, errors.New("sigv4: URL has no host")
	}
	secs := int64(expires / time.Second)
	if secs < 1 || secs > maxExpiresSeconds {
		return nil, errors.New("sigv4: expires must be between 1 second and 7 days")
	}
	existing, err := parseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("sigv4: " + err.Error())
	}
	params := make([]queryParam, 0, len(existing)+6)
	for _, p := range existing {
		if !presignParams[p.name] {
			params = append(params, p)
		}
	}
	amzDate := now.UTC().Format(amzDateLayout)
	date := amzDate[:8]
	scope := credentialScope(date, region, service)
	params = append(params,
		queryParam{paramAlgorithm, Algorithm},
		queryParam{paramCredential, creds.AccessKeyID + "/" + scope},
		queryParam{paramDate, amzDate},
		queryParam{paramExpires, strconv.FormatInt(secs, 10)},
		queryParam{paramSignedHeaders, "host"},
	)
	if creds.SessionToken != "" {
		params = append(params, queryParam{paramSecurityToken, creds.SessionToken})
	}
	query := canonicalQuery(params)
	canonical := canonicalRequest(http.MethodGet, canonicalURI(u.EscapedPath()), query,
		"host:"+cleanValue(u.Host)+"\n", "host", EmptyPayloadHash)
	sig := signature(creds.SecretAccessKey, date, region, service, stringToSign(amzDate, scope, canonical))

	out := *u
	out.RawQuery = query + "&" + paramSignature + "=" + sig
	out.ForceQuery = false
	return &out, nil
}
