// Package auth decides who is calling. It verifies AWS Signature V4 on REST
// requests (headers) and WebSocket upgrades (presigned URLs) with the public
// sigv4 package, looks up the credential an access key names through a
// CredentialSource, checks the session token bound to it, and hands the
// resulting Principal to handlers through the request context.
//
// Handlers never see keys or secrets, only a Principal. Adding temporary
// credentials (STS-style tokens, device certificates) means adding a
// CredentialSource; handlers do not change.
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// SigningService is the SigV4 service name of every KVS surface (spec 7.1).
const SigningService = "kinesisvideo"

// Principal is an authenticated caller.
type Principal struct {
	Account     string
	AccessKeyID string
}

// Credential is what an access key id stands for.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must accompany every request signed with this
	// key; when empty, requests must carry no token.
	SessionToken string
	Account      string
	// Expires is when a temporary credential stops working; zero for keys
	// that do not expire.
	Expires time.Time
}

// CredentialSource finds credentials by access key id. It returns an error
// wrapping sigv4.ErrUnknownAccessKey for keys it does not know.
type CredentialSource interface {
	LookupCredential(ctx context.Context, accessKeyID string) (Credential, error)
}

// Options configure an Authenticator.
type Options struct {
	Source CredentialSource
	// Region is the only region accepted in credential scopes.
	Region string
	// MaxSkew bounds the clock difference for header-signed requests
	// (15 minutes when zero).
	MaxSkew time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Authenticator verifies signed requests.
type Authenticator struct {
	source   CredentialSource
	verifier *sigv4.Verifier
	now      func() time.Time
}

// NewAuthenticator builds an Authenticator.
func NewAuthenticator(opts Options) *Authenticator {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{source: opts.Source, now: now}
	a.verifier = &sigv4.Verifier{
		Service: SigningService,
		Region:  opts.Region,
		MaxSkew: opts.MaxSkew,
		Now:     now,
		Lookup: func(ctx context.Context, accessKeyID string) (string, error) {
			cred, err := a.source.LookupCredential(ctx, accessKeyID)
			if err != nil {
				return "", err
			}
			return cred.SecretAccessKey, nil
		},
	}
	return a
}

// Authenticate verifies a header-signed REST request whose body has been
// read into body. Errors are *kvsapi.Error values ready for the wire.
func (a *Authenticator) Authenticate(r *http.Request, body []byte) (Principal, error) {
	res, err := a.verifier.VerifyRequest(r, body)
	if err != nil {
		return Principal{}, wireError(err)
	}
	return a.authorize(r.Context(), res)
}

// AuthenticatePresigned verifies a presigned-URL request (a WebSocket
// upgrade) and returns the caller's account.
func (a *Authenticator) AuthenticatePresigned(r *http.Request) (string, error) {
	res, err := a.verifier.VerifyPresigned(r)
	if err != nil {
		return "", wireError(err)
	}
	p, err := a.authorize(r.Context(), res)
	return p.Account, err
}

// authorize checks what a valid signature does not prove by itself: the
// session token bound to the key and the key's expiry.
func (a *Authenticator) authorize(ctx context.Context, res *sigv4.Result) (Principal, error) {
	cred, err := a.source.LookupCredential(ctx, res.AccessKeyID)
	if err != nil {
		return Principal{}, wireError(err)
	}
	if subtle.ConstantTimeCompare([]byte(cred.SessionToken), []byte(res.SessionToken)) != 1 {
		return Principal{}, kvsapi.Errorf(kvsapi.CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	if !cred.Expires.IsZero() && !a.now().Before(cred.Expires) {
		return Principal{}, kvsapi.Errorf(kvsapi.CodeUnrecognizedClient, "The security token included in the request is expired")
	}
	return Principal{Account: cred.Account, AccessKeyID: cred.AccessKeyID}, nil
}

// wireError turns a verification failure into the API error AWS front ends
// answer with; the sigv4 package already chose the AWS name.
func wireError(err error) error {
	var sigErr *sigv4.Error
	if !errors.As(err, &sigErr) {
		if errors.Is(err, sigv4.ErrUnknownAccessKey) {
			return kvsapi.Errorf(kvsapi.CodeUnrecognizedClient, "The security token included in the request is invalid.")
		}
		return fmt.Errorf("authenticate: %w", err)
	}
	code, ok := codesByName[sigErr.Code]
	if !ok {
		code = kvsapi.CodeInvalidSignature
	}
	return &kvsapi.Error{Code: code, Message: sigErr.Message}
}

var codesByName = map[string]kvsapi.ErrorCode{
	kvsapi.CodeMissingAuthenticationToken.Name: kvsapi.CodeMissingAuthenticationToken,
	kvsapi.CodeIncompleteSignature.Name:        kvsapi.CodeIncompleteSignature,
	kvsapi.CodeInvalidSignature.Name:           kvsapi.CodeInvalidSignature,
	kvsapi.CodeUnrecognizedClient.Name:         kvsapi.CodeUnrecognizedClient,
	kvsapi.CodeInternalFailure.Name:            kvsapi.CodeInternalFailure,
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal stored by WithPrincipal.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
