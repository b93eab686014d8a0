package client

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Payloads from the spec's appendix A (what real peers exchange).
const (
	appendixOffer     = "eyJ0eXBlIjoib2ZmZXIiLCJzZHAiOiJ2PTBcclxubz0tIDEgMiBJTiBJUDQgMTI3LjAuMC4xXHJcbnM9LVxyXG4ifQ=="
	appendixCandidate = "eyJjYW5kaWRhdGUiOiJjYW5kaWRhdGU6MiAxIHVkcCAyMTIyMjYwMjIzIDE5Mi4wLjIuMjAgNTAwMDEgdHlwIGhvc3QiLCJzZHBNaWQiOiIwIiwic2RwTUxpbmVJbmRleCI6MH0="
)

func TestEncodePayloadMatchesPeers(t *testing.T) {
	got, err := EncodePayload(SessionDescription{Type: "offer", SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"})
	if err != nil || got != appendixOffer {
		t.Fatalf("offer payload %q (%v), want %q", got, err, appendixOffer)
	}
	mid, line := "0", uint16(0)
	got, err = EncodePayload(ICECandidate{Candidate: "candidate:2 1 udp 2122260223 192.0.2.20 50001 typ host", SDPMid: &mid, SDPMLineIndex: &line})
	if err != nil || got != appendixCandidate {
		t.Fatalf("candidate payload %q (%v), want %q", got, err, appendixCandidate)
	}
}

func TestEncodePayloadKeepsRawDocuments(t *testing.T) {
	doc := `{"type": "offer", "sdp": "v=0\r\n"}` // C SDK spacing
	for _, v := range []any{[]byte(doc), json.RawMessage(doc)} {
		got, err := EncodePayload(v)
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := base64.StdEncoding.DecodeString(got); string(raw) != doc {
			t.Fatalf("raw document changed: %q", raw)
		}
	}
	if _, err := EncodePayload([]byte("not json")); err == nil {
		t.Fatal("a raw non-JSON document was accepted")
	}
}

func TestDecodePayload(t *testing.T) {
	ev := Event{Event: kvsapi.Event{MessageType: kvsapi.ActionSDPOffer, MessagePayload: appendixOffer}}
	sd, err := ev.SessionDescription()
	if err != nil || sd.Type != "offer" || !strings.HasPrefix(sd.SDP, "v=0\r\n") {
		t.Fatalf("offer: %+v %v", sd, err)
	}
	ev = Event{Event: kvsapi.Event{MessageType: kvsapi.ActionICECandidate, MessagePayload: appendixCandidate}}
	c, err := ev.ICECandidate()
	if err != nil || !strings.HasPrefix(c.Candidate, "candidate:2 1 udp") || c.SDPMid == nil || *c.SDPMid != "0" || c.SDPMLineIndex == nil {
		t.Fatalf("candidate: %+v %v", c, err)
	}
	unpadded := strings.TrimRight(appendixOffer, "=")
	if err := DecodePayload(unpadded, &sd); err != nil {
		t.Fatalf("unpadded base64: %v", err)
	}
	var raw json.RawMessage
	if err := DecodePayload(appendixOffer, &raw); err != nil || !strings.HasPrefix(string(raw), `{"type":"offer"`) {
		t.Fatalf("raw: %s %v", raw, err)
	}
	for _, bad := range []string{"", "!!!", base64.StdEncoding.EncodeToString([]byte("not json"))} {
		if err := DecodePayload(bad, &sd); err == nil {
			t.Errorf("payload %q decoded", bad)
		}
	}
	if _, err := (Event{Event: kvsapi.Event{MessagePayload: base64.StdEncoding.EncodeToString([]byte(`{"type":"offer"}`))}}).SessionDescription(); err == nil {
		t.Fatal("an offer without sdp was accepted")
	}
}

func TestDecodeServerFrame(t *testing.T) {
	cases := []struct {
		frame  string
		ok     bool
		sender string
	}{
		{`{"senderClientId":"viewer-1","messageType":"SDP_OFFER","messagePayload":"` + appendixOffer + `"}`, true, "viewer-1"},
		{`{"messageType":"GO_AWAY"}`, true, ""},
		{`{"message": "Endpoint request timed out", "connectionId":"x","requestId":"y"}`, false, ""},
		{``, false, ""},
		{`[1,2]`, false, ""},
	}
	for _, tc := range cases {
		ev, ok := decodeServerFrame([]byte(tc.frame))
		if ok != tc.ok || ev.SenderClientID != tc.sender {
			t.Errorf("%s: got %+v ok=%v", tc.frame, ev, ok)
		}
	}
}

func TestStatusError(t *testing.T) {
	frame := `{"messageType":"STATUS_RESPONSE","statusResponse":{"correlationId":"c-42","success":false,` +
		`"errorType":"InvalidArgumentException","statusCode":"400","description":"RecipientClientId is required"}}`
	ev, ok := decodeServerFrame([]byte(frame))
	if !ok || ev.StatusResponse == nil || ev.StatusResponse.CorrelationID != "c-42" {
		t.Fatalf("decode: %+v", ev)
	}
	err := ev.StatusError()
	if !IsInvalidArgument(err) || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("status error: %v", err)
	}
	if (Event{Event: kvsapi.Event{MessageType: kvsapi.MessageGoAway}}).StatusError() != nil {
		t.Fatal("GO_AWAY has a status error")
	}
	if stateEvent(StateConnected, nil).IsStateChange() != true || ev.IsStateChange() {
		t.Fatal("IsStateChange")
	}
}
