package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// messageError is why one client message was refused. It becomes a
// STATUS_RESPONSE when correlationID is set (spec 6.4.3, 6.5.2).
type messageError struct {
	code          kvsapi.ErrorCode
	reason        string // metric label, snake_case
	description   string // human readable, at most maxDescription bytes
	correlationID string
}

func (e *messageError) Error() string { return e.code.Name + ": " + e.description }

// maxDescription is the longest STATUS_RESPONSE description a C SDK peer
// accepts (spec 8).
const maxDescription = 1024

func invalidMessage(reason, corr, format string, args ...any) *messageError {
	return &messageError{
		code:          kvsapi.CodeInvalidArgument,
		reason:        reason,
		description:   truncate(fmt.Sprintf(format, args...), maxDescription),
		correlationID: corr,
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// decodeClientMessage parses one text frame from a client. Member names are
// matched case-insensitively, so both the JS spelling (messagePayload) and
// the C one (MessagePayload) work, and unknown members (the C viewer's
// IceServerList) are ignored. On failure the error carries the correlation
// id whenever one can be read, even from a frame that is not valid JSON.
func decodeClientMessage(frame []byte) (kvsapi.ClientMessage, *messageError) {
	var msg kvsapi.ClientMessage
	if decodeFast(frame, &msg) {
		return checkDecoded(msg)
	}
	return decodeJSON(frame)
}

// decodeJSON is decodeClientMessage for the frames decodeFast leaves to
// encoding/json. It is a function of its own so that the message, which
// escapes to the heap here, does not on the fast path.
func decodeJSON(frame []byte) (kvsapi.ClientMessage, *messageError) {
	var msg kvsapi.ClientMessage
	if err := json.Unmarshal(frame, &msg); err != nil {
		corr := msg.CorrelationID // members decoded before a type error are kept
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			corr = salvageCorrelationID(frame)
		}
		if kvsapi.ValidateCorrelationID("correlationId", corr) != nil {
			corr = ""
		}
		return msg, invalidMessage("malformed_json", corr,
			"message must be a JSON object with string members action, messagePayload, recipientClientId and correlationId")
	}
	return checkDecoded(msg)
}

// checkDecoded applies the rules every decoded message must pass.
func checkDecoded(msg kvsapi.ClientMessage) (kvsapi.ClientMessage, *messageError) {
	if msg.CorrelationID != "" {
		if err := kvsapi.ValidateCorrelationID("correlationId", msg.CorrelationID); err != nil {
			// The id cannot be echoed to a client that limits its length,
			// so the failure is silent.
			return msg, invalidMessage("invalid_correlation_id", "", "%s", apiMessage(err))
		}
	}
	switch {
	case msg.Action == "":
		return msg, invalidMessage("missing_action", msg.CorrelationID, "action is required")
	case !kvsapi.IsRelayedAction(msg.Action):
		return msg, invalidMessage("unknown_action", msg.CorrelationID,
			"action must be one of SDP_OFFER, SDP_ANSWER and ICE_CANDIDATE, got %q", truncate(msg.Action, 64))
	}
	return msg, nil
}

// validateClientMessage applies the rules that depend on the sender's role
// and the configured payload limit. A viewer's recipient is ignored (C
// viewers send "ProducerMaster" or ""), so it is cleared here.
func validateClientMessage(msg *kvsapi.ClientMessage, role bus.Role, maxPayload int) *messageError {
	corr := msg.CorrelationID
	switch p := msg.MessagePayload; {
	case p == "":
		return invalidMessage("missing_payload", corr, "messagePayload is required")
	case len(p) > maxPayload:
		return invalidMessage("payload_too_large", corr, "%s", payloadTooLarge("messagePayload", maxPayload, len(p)))
	case !validBase64(p):
		return invalidMessage("invalid_payload", corr, "messagePayload must be base64 text")
	}
	if role != bus.RoleMaster {
		msg.RecipientClientID = ""
		return nil
	}
	if msg.RecipientClientID == "" {
		return invalidMessage("missing_recipient", corr, "RecipientClientId is required for messages sent by the master")
	}
	if err := kvsapi.ValidateClientID("RecipientClientId", msg.RecipientClientID); err != nil {
		return invalidMessage("invalid_recipient", corr, "%s", apiMessage(err))
	}
	return nil
}

func apiMessage(err error) string {
	var apiErr *kvsapi.Error
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	return err.Error()
}

// validBase64 reports whether s is standard base64 text: the alphabet
// A-Z a-z 0-9 + /, with the usual = padding (padding may be omitted, but
// when present the length is a multiple of 4). The payload itself is never
// decoded: it is relayed as received.
func validBase64(s string) bool {
	n := len(s)
	pad := 0
	for pad < 2 && n > 0 && s[n-1] == '=' {
		n--
		pad++
	}
	if n == 0 {
		return false
	}
	switch {
	case pad > 0 && len(s)%4 != 0:
		return false
	case n%4 == 1:
		return false
	}
	return allBase64(s[:n])
}

// salvageCorrelationID looks for a correlationId member (any letter case)
// with a plain string value in a frame that is not valid JSON, so that even
// a broken message can be answered. It returns "" when there is none.
func salvageCorrelationID(frame []byte) string {
	const key = `"correlationid"`
	for rest := frame; ; {
		i := indexFold(rest, key)
		if i < 0 {
			return ""
		}
		rest = rest[i+len(key):]
		v := bytes.TrimLeft(rest, " \t\r\n")
		if len(v) == 0 || v[0] != ':' {
			continue
		}
		v = bytes.TrimLeft(v[1:], " \t\r\n")
		if len(v) == 0 || v[0] != '"' {
			continue
		}
		end := bytes.IndexByte(v[1:], '"')
		if end < 0 {
			return ""
		}
		return string(v[1 : 1+end])
	}
}

// indexFold is bytes.Index ignoring ASCII case; key must be lower case.
func indexFold(s []byte, key string) int {
	for i := 0; i+len(key) <= len(s); i++ {
		match := true
		for j := 0; j < len(key); j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != key[j] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}
