package ice

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme (coturn, pion) is HMAC-SHA1
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TURN credentials follow the TURN REST API shared-secret scheme that
// coturn (use-auth-secret) and pion/turn understand:
//
//	Username = "<unix expiry>:<user part>"
//	Password = base64(HMAC-SHA1(secret, Username))
//
// They are stateless: the server recomputes the password from the username.
// The user part scopes the credential to an account, a channel and a client,
// compactly, so that the whole username stays far below the 256 characters
// KVS clients accept whatever the channel ARN's length:
//
//	user part = base64url("v1/" + account + "/" + channelKey + "/" + client)
//
// channelKey is a 96-bit hash of the channel ARN; client is the ClientId
// when short and plain, else "#" and a hash of it. Changing any byte of the
// username changes the expected password, so a credential cannot be moved to
// another channel, client or expiry.

const (
	scopeVersion    = "v1"
	scopeSeparator  = "/"
	hashedMarker    = "#"
	maxPlainPartLen = 64
	hashBytes       = 12 // 96 bits, 16 base64url characters
	maxUsernameLen  = 256
)

// scope is what a credential is good for.
type scope struct {
	Account    string
	ChannelKey string // channelKey(ARN)
	Client     string // ClientId, or "#"+hash when long or unusual
}

// credential is a parsed username.
type credential struct {
	Username string
	Expiry   time.Time
	Scope    scope
}

// quotaCredential is the key under which the credential quota counts:
// the scope without the expiry, so that the credentials one client of one
// channel fetches one after another count together.
func (c credential) quotaCredential() string {
	return c.quotaChannel() + scopeSeparator + c.Scope.Client
}

// quotaChannel is the key under which the channel quota counts.
func (c credential) quotaChannel() string {
	return c.Scope.Account + scopeSeparator + c.Scope.ChannelKey
}

// channelKey hashes a channel ARN to a short, fixed-length key.
func channelKey(arn string) string { return shortHash(arn) }

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:hashBytes])
}

// plainPart keeps s as it is when it is short and made of the characters
// KVS identifiers use, and replaces it by a marked hash otherwise, so that
// it can never contain the scope separator or a colon.
func plainPart(s string) string {
	if len(s) <= maxPlainPartLen && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == "" {
		return s
	}
	return hashedMarker + shortHash(s)
}

// newScope builds the scope of a credential for a client of a channel.
func newScope(account, channelARN, clientID string) scope {
	return scope{Account: plainPart(account), ChannelKey: channelKey(channelARN), Client: plainPart(clientID)}
}

// userPart encodes a scope for the username.
func (s scope) userPart() string {
	text := strings.Join([]string{scopeVersion, s.Account, s.ChannelKey, s.Client}, scopeSeparator)
	return base64.RawURLEncoding.EncodeToString([]byte(text))
}

// mintUsername returns the username of a credential valid until expiry.
func mintUsername(expiry time.Time, s scope) string {
	return strconv.FormatInt(expiry.Unix(), 10) + ":" + s.userPart()
}

// turnPassword is the password of username under secret.
func turnPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// checkPassword reports, in constant time, whether password belongs to
// username under secret.
func checkPassword(secret []byte, username, password string) bool {
	return hmac.Equal([]byte(turnPassword(secret, username)), []byte(password))
}

// parseUsername decodes a username this server minted. It checks the
// shape only; the caller checks the expiry and the password.
func parseUsername(username string) (credential, error) {
	if len(username) > maxUsernameLen {
		return credential{}, fmt.Errorf("%w: longer than %d characters", ErrBadUsername, maxUsernameLen)
	}
	stamp, part, ok := strings.Cut(username, ":")
	if !ok {
		return credential{}, fmt.Errorf("%w: no expiry separator", ErrBadUsername)
	}
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil || secs <= 0 || stamp[0] == '+' {
		return credential{}, fmt.Errorf("%w: expiry %q is not a unix time", ErrBadUsername, stamp)
	}
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return credential{}, fmt.Errorf("%w: user part is not base64url", ErrBadUsername)
	}
	fields := strings.Split(string(raw), scopeSeparator)
	if len(fields) != 4 || fields[0] != scopeVersion || fields[1] == "" || len(fields[2]) != 16 {
		return credential{}, fmt.Errorf("%w: unknown user part layout", ErrBadUsername)
	}
	return credential{
		Username: username,
		Expiry:   time.Unix(secs, 0),
		Scope:    scope{Account: fields[1], ChannelKey: fields[2], Client: fields[3]},
	}, nil
}
