package signaling

import (
	"encoding/json"
	"strconv"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Pieces of a delivery event. Member names are exact lower camel case (the
// C SDK matches them byte for byte) and the order is the one the real
// service uses (spec 6.5, appendix A).
const (
	evWithSender = `{"senderClientId":"`
	evTypeAfter  = `","messageType":"`
	evTypeFirst  = `{"messageType":"`
	evPayload    = `","messagePayload":"`
	evEnd        = `"}`
)

// eventSize is the exact length appendEvent produces for values that need
// no JSON escaping, which is always the case for validated messages (client
// ids and base64 never need escaping).
func eventSize(withSender bool, env bus.Envelope) int {
	n := len(evTypeFirst) + len(env.Type) + len(evPayload) + len(env.Payload) + len(evEnd)
	if withSender && env.SenderClientID != "" {
		n += len(evWithSender) + len(env.SenderClientID) + len(evTypeAfter) - len(evTypeFirst)
	}
	return n
}

// appendEvent appends the delivery event of env: with senderClientId for a
// master recipient, without it for a viewer (spec 6.5.1).
func appendEvent(dst []byte, withSender bool, env bus.Envelope) []byte {
	if withSender && env.SenderClientID != "" {
		dst = append(dst, evWithSender...)
		dst = appendJSONStringBody(dst, env.SenderClientID)
		dst = append(dst, evTypeAfter...)
	} else {
		dst = append(dst, evTypeFirst...)
	}
	dst = appendJSONStringBody(dst, env.Type)
	dst = append(dst, evPayload...)
	dst = appendJSONStringBody(dst, env.Payload)
	return append(dst, evEnd...)
}

// appendJSONStringBody appends s as the inside of a JSON string. Plain text
// is copied unchanged, so payloads are relayed byte for byte; the escaping
// branch only guards against envelopes that bypassed validation (for
// example from another node).
func appendJSONStringBody(dst []byte, s string) []byte {
	if plainPrefix(s) < len(s) {
		quoted, _ := json.Marshal(s)
		return append(dst, quoted[1:len(quoted)-1]...)
	}
	return append(dst, s...)
}

// Frames without payload, encoded once.
var (
	goAwayFrame             = mustMarshal(kvsapi.Event{MessageType: kvsapi.MessageGoAway})
	reconnectICEServerFrame = mustMarshal(kvsapi.Event{MessageType: kvsapi.MessageReconnectICEServer})
)

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// statusResponseFrame encodes the STATUS_RESPONSE for a refused message.
func statusResponseFrame(e *messageError) []byte {
	return mustMarshal(kvsapi.Event{
		MessageType: kvsapi.MessageStatusResponse,
		StatusResponse: &kvsapi.StatusResponse{
			CorrelationID: e.correlationID,
			Success:       false,
			ErrorType:     e.code.Name,
			StatusCode:    strconv.Itoa(e.code.Status),
			Description:   e.description,
		},
	})
}
