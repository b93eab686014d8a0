package sigv4

import (
	"errors"
	"fmt"
)

// AWS error names a verification failure maps to (spec section 1.3). The HTTP
// status belongs to the caller's error catalog.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeInternalFailure            = "InternalFailure"
)

// Sentinels for the classes of verification failure. Every *Error returned by
// a Verifier wraps exactly one of them, so callers branch with errors.Is.
var (
	// ErrMissingAuthentication: no Authorization header, or no presign
	// parameters in the query. Code MissingAuthenticationTokenException.
	ErrMissingAuthentication = errors.New("sigv4: missing authentication")

	// ErrIncompleteSignature: malformed Authorization header or presign
	// query, missing or malformed date, a required header (host, the date
	// header) not signed, bad X-Amz-Expires, an unsupported algorithm, or an
	// Authorization header or query string over the size limits.
	// Code IncompleteSignatureException.
	ErrIncompleteSignature = errors.New("sigv4: incomplete signature")

	// ErrSignatureMismatch: the signature does not match the request, or
	// x-amz-content-sha256 differs from the body's hash.
	// Code InvalidSignatureException.
	ErrSignatureMismatch = errors.New("sigv4: signature mismatch")

	// ErrScopeMismatch: the credential scope names another service or an
	// unaccepted region, or its date is not the day of the signing time.
	// Code InvalidSignatureException.
	ErrScopeMismatch = errors.New("sigv4: credential scope mismatch")

	// ErrUnknownAccessKey: the access key id is not known. A SecretLookup
	// returns an error wrapping it; the Verifier then answers with Code
	// UnrecognizedClientException and the message AWS uses.
	ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

	// ErrSignatureExpired: the request is older than the allowed skew, or a
	// presigned URL is past its expiry. The message starts with
	// "Signature expired: ". Code InvalidSignatureException.
	ErrSignatureExpired = errors.New("sigv4: signature expired")

	// ErrSignatureNotYetCurrent: the signing time is further in the future
	// than the allowed skew. The message starts with
	// "Signature not yet current: ". Code InvalidSignatureException.
	ErrSignatureNotYetCurrent = errors.New("sigv4: signature not yet current")

	// ErrLookupFailed: the SecretLookup failed for a reason other than an
	// unknown key (for example a storage outage), or none was configured.
	// The Error's Err joins this sentinel with the lookup's own error.
	// Code InternalFailure; the server should answer 500, not 403.
	ErrLookupFailed = errors.New("sigv4: secret lookup failed")
)

// Messages that clients or AWS conventions fix.
const (
	msgMissingAuth    = "Missing Authentication Token"
	msgUnknownKey     = "The security token included in the request is invalid."
	msgMismatch       = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgContentHash    = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgExpiredPrefix  = "Signature expired: "
	msgNotYetPrefix   = "Signature not yet current: "
	msgInternalLookup = "An internal error occurred while checking the credentials."
)

// Error is a verification failure. Code is the AWS error name the server must
// answer with; Message is the text for the reply body; Err is the failure
// class (one of the sentinels above, joined with the lookup's error for
// ErrLookupFailed).
type Error struct {
	Code    string
	Message string
	Err     error

	// CanonicalRequest is, for ErrSignatureMismatch caused by a wrong
	// signature, the canonical request the server computed. It contains no
	// secret and helps when debugging a client; log it at debug level.
	CanonicalRequest string
}

// Error describes the failure as "<Code>: <Message>".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the failure class so errors.Is works with the sentinels.
func (e *Error) Unwrap() error { return e.Err }

// codeOf maps a sentinel to its AWS error name.
func codeOf(sentinel error) string {
	switch sentinel {
	case ErrMissingAuthentication:
		return CodeMissingAuthenticationToken
	case ErrIncompleteSignature:
		return CodeIncompleteSignature
	case ErrUnknownAccessKey:
		return CodeUnrecognizedClient
	case ErrLookupFailed:
		return CodeInternalFailure
	default:
		return CodeInvalidSignature
	}
}

// fail builds an *Error of the given class with a formatted message.
func fail(sentinel error, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: codeOf(sentinel), Message: msg, Err: sentinel}
}

// lookupError turns a SecretLookup failure into an *Error.
func lookupError(err error) *Error {
	if errors.Is(err, ErrUnknownAccessKey) {
		return fail(ErrUnknownAccessKey, msgUnknownKey)
	}
	e := fail(ErrLookupFailed, msgInternalLookup)
	e.Err = errors.Join(ErrLookupFailed, err)
	return e
}
