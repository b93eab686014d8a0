package signaling

import "github.com/switchboard-rtc/switchboard/kvsapi"

// decodeFast parses the shape nearly every client message has: one JSON
// object whose member names and values are all plain ASCII strings without
// escapes. For such a frame it fills msg exactly as json.Unmarshal would
// (member names matched case-insensitively, unknown members ignored, a
// repeated member's last value kept) and returns true. Anything else (an
// escape, a non-string value, non-ASCII text, a syntax error) returns
// false, and the caller decodes with encoding/json, whose answers, errors
// included, stay the reference. It is several times faster than reflection
// on the multi-kilobyte SDP payloads that dominate the relay.
func decodeFast(frame []byte, msg *kvsapi.ClientMessage) bool {
	var out kvsapi.ClientMessage
	i := skipSpace(frame, 0)
	if i >= len(frame) || frame[i] != '{' {
		return false
	}
	i = skipSpace(frame, i+1)
	if i < len(frame) && frame[i] == '}' {
		*msg = out
		return skipSpace(frame, i+1) == len(frame)
	}
	for {
		key, next, ok := plainString(frame, i)
		if !ok {
			return false
		}
		i = skipSpace(frame, next)
		if i >= len(frame) || frame[i] != ':' {
			return false
		}
		val, next, ok := plainString(frame, skipSpace(frame, i+1))
		if !ok {
			return false
		}
		if field := clientField(&out, key); field == &out.Action {
			*field = actionName(val)
		} else if field != nil {
			*field = string(val)
		}
		i = skipSpace(frame, next)
		if i >= len(frame) {
			return false
		}
		switch frame[i] {
		case ',':
			i = skipSpace(frame, i+1)
		case '}':
			*msg = out
			return skipSpace(frame, i+1) == len(frame)
		default:
			return false
		}
	}
}

// skipSpace returns the index of the first non-whitespace byte at or
// after i (JSON whitespace).
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] made of printable ASCII without
// backslashes, and returns its content and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	end := i + 1 + plainPrefix(b[i+1:])
	if end < len(b) && b[end] == '"' {
		return b[i+1 : end], end + 1, true
	}
	return nil, 0, false // a backslash, a control or non-ASCII byte, or no closing quote
}

// clientField returns the member of m that a JSON key decodes into, as
// encoding/json matches it for ASCII names (exactly, else ignoring case),
// or nil for a member m does not have.
func clientField(m *kvsapi.ClientMessage, key []byte) *string {
	switch {
	case asciiEqualFold(key, "action"):
		return &m.Action
	case asciiEqualFold(key, "recipientClientId"):
		return &m.RecipientClientID
	case asciiEqualFold(key, "messagePayload"):
		return &m.MessagePayload
	case asciiEqualFold(key, "correlationId"):
		return &m.CorrelationID
	}
	return nil
}

// actionName returns the action a client named: one of the constants for
// the actions that exist, so that decoding them allocates nothing, or a
// copy of an unknown name (which validation then refuses).
func actionName(b []byte) string {
	switch string(b) {
	case kvsapi.ActionSDPOffer:
		return kvsapi.ActionSDPOffer
	case kvsapi.ActionSDPAnswer:
		return kvsapi.ActionSDPAnswer
	case kvsapi.ActionICECandidate:
		return kvsapi.ActionICECandidate
	}
	return string(b)
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
