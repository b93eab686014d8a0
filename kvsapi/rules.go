package kvsapi

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits of the service models (spec section 2). Violations are answered with
// InvalidArgumentException naming the member and the rule.
const (
	MaxChannelNameLength   = 256
	MaxChannelARNLength    = 1024
	MaxClientIDLength      = 256
	MaxCorrelationIDLength = 256
	MaxVersionLength       = 64
	MaxNextTokenLength     = 1024
	MaxTagsPerResource     = 50
	MaxTagKeyLength        = 128
	MaxTagValueLength      = 256
	MinMessageTTLSeconds   = 5
	MaxMessageTTLSeconds   = 120
	DefaultMessageTTL      = 60
	MaxListResults         = 10000
	DefaultListResults     = 500
	MaxProtocols           = 5
	// ReservedClientIDPrefix starts ids the service keeps for itself; viewers
	// may not use it (matched case-insensitively).
	ReservedClientIDPrefix = "AWS_"
)

var (
	versionPattern = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	tokenPattern   = regexp.MustCompile(`^[a-zA-Z0-9+/=]*$`)
	tagPattern     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// isName reports whether s is one or more characters of [a-zA-Z0-9_.-],
// the alphabet of channel names, client ids and correlation ids. A loop
// rather than a regular expression: every relayed message checks its
// correlation id.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return s != ""
}

// ValidateChannelName checks a channel name: 1-256 characters of
// [a-zA-Z0-9_.-]. member names the request member for the error message.
func ValidateChannelName(member, name string) error {
	return validateIdentifier(member, name, MaxChannelNameLength)
}

// ValidateClientID checks a viewer client id: 1-256 characters of
// [a-zA-Z0-9_.-], not starting with the reserved prefix AWS_.
func ValidateClientID(member, id string) error {
	if err := validateIdentifier(member, id, MaxClientIDLength); err != nil {
		return err
	}
	if strings.HasPrefix(strings.ToUpper(id), ReservedClientIDPrefix) {
		return Errorf(CodeInvalidArgument, "%s must not start with the reserved prefix %q", member, ReservedClientIDPrefix)
	}
	return nil
}

// ValidateCorrelationID checks a WebSocket correlation id: 1-256 characters
// of [a-zA-Z0-9_.-].
func ValidateCorrelationID(member, id string) error {
	return validateIdentifier(member, id, MaxCorrelationIDLength)
}

func validateIdentifier(member, value string, maxLen int) error {
	switch {
	case value == "":
		return Errorf(CodeInvalidArgument, "%s must not be empty", member)
	case len(value) > maxLen:
		return Errorf(CodeInvalidArgument, "%s must be at most %d characters, got %d", member, maxLen, len(value))
	case !isName(value):
		return Errorf(CodeInvalidArgument, "%s must match the pattern [a-zA-Z0-9_.-]+", member)
	}
	return nil
}

// ValidateVersion checks a channel version token: 1-64 alphanumerics.
func ValidateVersion(member, version string) error {
	switch {
	case version == "":
		return Errorf(CodeInvalidArgument, "%s must not be empty", member)
	case len(version) > MaxVersionLength:
		return Errorf(CodeInvalidArgument, "%s must be at most %d characters, got %d", member, MaxVersionLength, len(version))
	case !versionPattern.MatchString(version):
		return Errorf(CodeInvalidArgument, "%s must match the pattern [a-zA-Z0-9]+", member)
	}
	return nil
}

// ValidateNextToken checks the shape of a pagination token.
func ValidateNextToken(member, token string) error {
	switch {
	case len(token) > MaxNextTokenLength:
		return Errorf(CodeInvalidArgument, "%s must be at most %d characters, got %d", member, MaxNextTokenLength, len(token))
	case !tokenPattern.MatchString(token):
		return Errorf(CodeInvalidArgument, "%s must match the pattern [a-zA-Z0-9+/=]*", member)
	}
	return nil
}

// ValidateMessageTTL checks MessageTtlSeconds: an integer from 5 to 120.
func ValidateMessageTTL(member string, ttl int) error {
	if ttl < MinMessageTTLSeconds || ttl > MaxMessageTTLSeconds {
		return Errorf(CodeInvalidArgument, "%s must be between %d and %d, got %d", member, MinMessageTTLSeconds, MaxMessageTTLSeconds, ttl)
	}
	return nil
}

// ValidateTagKey checks a tag key: 1-128 characters of letters, spaces,
// digits and _ . : / = + - @, not starting with the reserved prefix aws:.
func ValidateTagKey(member, key string) error {
	n := utf8.RuneCountInString(key)
	switch {
	case n == 0:
		return Errorf(CodeInvalidArgument, "%s must not be empty", member)
	case n > MaxTagKeyLength:
		return Errorf(CodeInvalidArgument, "%s must be at most %d characters, got %d", member, MaxTagKeyLength, n)
	case !utf8.ValidString(key) || !tagPattern.MatchString(key):
		return Errorf(CodeInvalidArgument, "%s may contain only letters, digits, spaces and _ . : / = + - @", member)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return Errorf(CodeInvalidArgument, "%s must not start with the reserved prefix aws:", member)
	}
	return nil
}

// ValidateTagValue checks a tag value: 0-256 characters of letters, spaces,
// digits and _ . : / = + - @.
func ValidateTagValue(member, value string) error {
	n := utf8.RuneCountInString(value)
	switch {
	case n > MaxTagValueLength:
		return Errorf(CodeInvalidArgument, "%s must be at most %d characters, got %d", member, MaxTagValueLength, n)
	case !utf8.ValidString(value) || !tagPattern.MatchString(value):
		return Errorf(CodeInvalidArgument, "%s may contain only letters, digits, spaces and _ . : / = + - @", member)
	}
	return nil
}

// ValidateTags checks a request's tag list and returns it as a map. The list
// holds 1-50 items when required is set, 0-50 otherwise; each item needs
// both Key and Value. A key given twice keeps its last value.
func ValidateTags(member string, tags []Tag, required bool) (map[string]string, error) {
	if required && len(tags) == 0 {
		return nil, Errorf(CodeInvalidArgument, "%s must contain at least 1 tag", member)
	}
	if len(tags) > MaxTagsPerResource {
		return nil, Errorf(CodeTagsPerResourceExceededLimit, "%s may contain at most %d tags, got %d", member, MaxTagsPerResource, len(tags))
	}
	out := make(map[string]string, len(tags))
	for i, tag := range tags {
		item := fmt.Sprintf("%s[%d]", member, i)
		if tag.Key == nil {
			return nil, Errorf(CodeInvalidArgument, "%s.Key is required", item)
		}
		if tag.Value == nil {
			return nil, Errorf(CodeInvalidArgument, "%s.Value is required", item)
		}
		if err := ValidateTagKey(item+".Key", *tag.Key); err != nil {
			return nil, err
		}
		if err := ValidateTagValue(item+".Value", *tag.Value); err != nil {
			return nil, err
		}
		out[*tag.Key] = *tag.Value
	}
	return out, nil
}
