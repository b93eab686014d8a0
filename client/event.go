package client

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// EventStateChange is the MessageType of the events the client generates
// itself to report a change of connection State. It never appears on the
// wire.
const EventStateChange = "CLIENT_STATE_CHANGE"

// State is the connection state of a SignalingClient.
type State int

// Connection states, reported in order through EventStateChange events.
const (
	// StateConnected: a WebSocket connection is open. It is the first
	// event of every client and follows every successful reconnect.
	StateConnected State = iota + 1
	// StateReconnecting: the connection ended and the client is trying
	// again; Event.Err says why it ended. Sends fail with ErrNotConnected.
	StateReconnecting
	// StateClosed: the client has stopped for good; it is the last event.
	// Event.Err is nil after Close, otherwise the reason (also Err()).
	StateClosed
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Event is one thing that happened on a signaling client, in the order it
// happened. Server frames carry the kvsapi.Event members as received:
// MessageType is SDP_OFFER, SDP_ANSWER, ICE_CANDIDATE, GO_AWAY,
// RECONNECT_ICE_SERVER or STATUS_RESPONSE; SenderClientID is set on
// messages delivered to a master; MessagePayload is the sender's base64
// payload, byte for byte; StatusResponse is set on STATUS_RESPONSE.
// Events the client makes itself have MessageType EventStateChange and
// carry State and Err.
type Event struct {
	kvsapi.Event
	// State is the new connection state (EventStateChange only).
	State State
	// Err is why the state changed, when it was not asked for
	// (EventStateChange only).
	Err error
}

// IsStateChange reports whether the event is a state change made by the
// client rather than a frame from the server.
func (e Event) IsStateChange() bool { return e.MessageType == EventStateChange }

// DecodePayload decodes the event's base64 JSON payload into v; see the
// package function DecodePayload.
func (e Event) DecodePayload(v any) error { return DecodePayload(e.MessagePayload, v) }

// SessionDescription decodes the payload of an SDP_OFFER or SDP_ANSWER.
func (e Event) SessionDescription() (SessionDescription, error) {
	var sd SessionDescription
	err := e.DecodePayload(&sd)
	if err == nil && sd.SDP == "" {
		err = fmt.Errorf("client: %s payload has no sdp member", e.MessageType)
	}
	return sd, err
}

// ICECandidate decodes the payload of an ICE_CANDIDATE.
func (e Event) ICECandidate() (ICECandidate, error) {
	var c ICECandidate
	err := e.DecodePayload(&c)
	return c, err
}

// StatusError returns the failure a STATUS_RESPONSE reports as an
// *APIError (Code from errorType, Status from statusCode, Message from
// description), or nil for any other event and for a success.
func (e Event) StatusError() error {
	sr := e.StatusResponse
	if e.MessageType != kvsapi.MessageStatusResponse || sr == nil || sr.Success {
		return nil
	}
	status, _ := strconv.Atoi(strings.TrimSpace(sr.StatusCode))
	return &APIError{Code: sr.ErrorType, Status: status, Message: sr.Description}
}

// decodeServerFrame parses one text frame from the server. Frames without
// a messageType (real KVS occasionally sends API-gateway notices and empty
// frames, spec 6.5.4) are reported as not ok and skipped.
func decodeServerFrame(frame []byte) (Event, bool) {
	var ev kvsapi.Event
	if err := json.Unmarshal(frame, &ev); err != nil || ev.MessageType == "" {
		return Event{}, false
	}
	return Event{Event: ev}, true
}

func stateEvent(s State, err error) Event {
	return Event{Event: kvsapi.Event{MessageType: EventStateChange}, State: s, Err: err}
}
