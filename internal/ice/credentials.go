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
// The user part names the key that signed the credential (the start of its
// period, see keyring.go) and scopes the credential to an account, a
// channel and a client, compactly, so that the whole username stays far
// below the 256 characters KVS clients accept whatever the channel ARN's
// length:
//
//	user part = base64url("v2/" + keyStart + "/" + account + "/" + channelKey + "/" + client)
//
// Layout v1, from before keys rotated, lacks keyStart; it is still read.
//
// channelKey is a 96-bit hash of the channel ARN; client is the ClientId
// when short and plain, else "#" and a hash of it. Changing any byte of the
// username changes the expected password, so a credential cannot be moved to
// another channel, client or expiry.

const (
	layoutV1        = "v1"
	layoutV2        = "v2"
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
	KeyStart int64 // the signing key's period start; 0 for layout v1
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

// userPart encodes a scope and its key's period start for the username;
// a keyStart of 0 (no rotating key: an external server's secret) gives
// layout v1.
func (s scope) userPart(keyStart int64) string {
	fields := []string{layoutV1, s.Account, s.ChannelKey, s.Client}
	if keyStart != 0 {
		fields = []string{layoutV2, strconv.FormatInt(keyStart, 10), s.Account, s.ChannelKey, s.Client}
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(fields, scopeSeparator)))
}

// mintUsername returns the username of a credential valid until expiry,
// signed with the key of the period starting at keyStart (0: layout v1).
func mintUsername(expiry time.Time, keyStart int64, s scope) string {
	return strconv.FormatInt(expiry.Unix(), 10) + ":" + s.userPart(keyStart)
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
	keyStart, fields, ok := splitUserPart(string(raw))
	if !ok || fields[0] == "" || len(fields[1]) != 16 {
		return credential{}, fmt.Errorf("%w: unknown user part layout", ErrBadUsername)
	}
	return credential{
		Username: username,
		Expiry:   time.Unix(secs, 0),
		KeyStart: keyStart,
		Scope:    scope{Account: fields[0], ChannelKey: fields[1], Client: fields[2]},
	}, nil
}

// splitUserPart splits a decoded user part into its key's period start (0
// for layout v1) and the three scope fields.
func splitUserPart(text string) (int64, []string, bool) {
	fields := strings.Split(text, scopeSeparator)
	switch {
	case len(fields) == 4 && fields[0] == layoutV1:
		return 0, fields[1:], true
	case len(fields) == 5 && fields[0] == layoutV2:
		start, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil || start <= 0 || strconv.FormatInt(start, 10) != fields[1] {
			return 0, nil, false
		}
		return start, fields[2:], true
	}
	return 0, nil, false
}
