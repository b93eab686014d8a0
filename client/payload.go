package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// SessionDescription is the JSON document inside an SDP_OFFER or
// SDP_ANSWER payload: {"type":"offer","sdp":"v=0\r\n..."}. Its JSON form
// matches the browser's RTCSessionDescriptionInit and pion's
// webrtc.SessionDescription.
type SessionDescription struct {
	Type string `json:"type"` // "offer" or "answer"
	SDP  string `json:"sdp"`
}

// ICECandidate is the JSON document inside an ICE_CANDIDATE payload. Its
// JSON form matches the browser's RTCIceCandidateInit and pion's
// webrtc.ICECandidateInit.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// EncodePayload returns the messagePayload for a JSON document: the
// standard base64 (with padding) of v's JSON encoding. When v is a
// json.RawMessage or a []byte it must already hold a JSON document, which
// is encoded exactly as given (spacing included).
func EncodePayload(v any) (string, error) {
	var doc []byte
	switch raw := v.(type) {
	case json.RawMessage:
		doc = raw
	case []byte:
		doc = raw
	default:
		var err error
		if doc, err = json.Marshal(v); err != nil {
			return "", fmt.Errorf("client: encoding payload: %w", err)
		}
	}
	if !json.Valid(doc) {
		return "", errors.New("client: payload is not a JSON document")
	}
	return base64.StdEncoding.EncodeToString(doc), nil
}

// DecodePayload decodes a messagePayload into v: base64 (standard, with or
// without padding, or URL-safe, since peers differ) and then JSON. When v
// is a *json.RawMessage it receives the document's exact bytes.
func DecodePayload(payload string, v any) error {
	doc, err := decodeBase64(payload)
	if err != nil {
		return fmt.Errorf("client: payload is not base64: %w", err)
	}
	if len(doc) == 0 {
		return errors.New("client: payload is empty")
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("client: payload is not the expected JSON document: %w", err)
	}
	return nil
}

// decodeBase64 accepts the base64 alphabets peers are seen to use.
func decodeBase64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
