package signaling

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

func TestDecodeClientMessage(t *testing.T) {
	tests := []struct {
		name   string
		frame  string
		want   kvsapi.ClientMessage
		reason string // expected refusal reason; "" means accepted
		corr   string // correlation id carried by the refusal
	}{
		{name: "JS spelling", frame: `{"action":"SDP_OFFER","messagePayload":"YQ==","recipientClientId":"m","correlationId":"c"}`,
			want: kvsapi.ClientMessage{Action: "SDP_OFFER", MessagePayload: "YQ==", RecipientClientID: "m", CorrelationID: "c"}},
		{name: "C spelling with extras", frame: `{"action":"ICE_CANDIDATE","RecipientClientId":"v","MessagePayload":"YQ==","CorrelationId":"c","IceServerList":[{"Ttl":1}]}`,
			want: kvsapi.ClientMessage{Action: "ICE_CANDIDATE", MessagePayload: "YQ==", RecipientClientID: "v", CorrelationID: "c"}},
		{name: "syntax error keeps a readable correlation id", frame: `{"CorrelationId" : "abc", "action": `, reason: "malformed_json", corr: "abc"},
		{name: "syntax error without correlation id", frame: `not json`, reason: "malformed_json"},
		{name: "invalid salvaged id is dropped", frame: `{"correlationId":"a b",`, reason: "malformed_json"},
		{name: "type error keeps the correlation id", frame: `{"correlationId":"k","action":7}`, reason: "malformed_json", corr: "k"},
		{name: "null", frame: `null`, reason: "missing_action"},
		{name: "unknown action", frame: `{"action":"GO_AWAY","correlationId":"x"}`, reason: "unknown_action", corr: "x"},
		{name: "correlation id too long", frame: `{"action":"SDP_OFFER","correlationId":"` + strings.Repeat("c", 257) + `"}`, reason: "invalid_correlation_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeClientMessage([]byte(tc.frame))
			if tc.reason == "" {
				if err != nil || got != tc.want {
					t.Fatalf("decode = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil || err.reason != tc.reason || err.correlationID != tc.corr {
				t.Fatalf("decode error = %+v, want reason %s with correlation id %q", err, tc.reason, tc.corr)
			}
		})
	}
}

func TestValidateClientMessage(t *testing.T) {
	tests := []struct {
		name   string
		role   bus.Role
		msg    kvsapi.ClientMessage
		reason string
	}{
		{"viewer recipient ignored", bus.RoleViewer, kvsapi.ClientMessage{Action: "SDP_OFFER", MessagePayload: "YQ==", RecipientClientID: "bad id!"}, ""},
		{"master needs recipient", bus.RoleMaster, kvsapi.ClientMessage{Action: "SDP_ANSWER", MessagePayload: "YQ=="}, "missing_recipient"},
		{"master recipient pattern", bus.RoleMaster, kvsapi.ClientMessage{Action: "SDP_ANSWER", MessagePayload: "YQ==", RecipientClientID: "a/b"}, "invalid_recipient"},
		{"payload at the limit", bus.RoleViewer, kvsapi.ClientMessage{Action: "SDP_OFFER", MessagePayload: strings.Repeat("A", 8)}, ""},
		{"payload over the limit", bus.RoleViewer, kvsapi.ClientMessage{Action: "SDP_OFFER", MessagePayload: strings.Repeat("A", 12)}, "payload_too_large"},
		{"payload not base64", bus.RoleViewer, kvsapi.ClientMessage{Action: "SDP_OFFER", MessagePayload: "YQ=a"}, "invalid_payload"},
		{"empty payload", bus.RoleViewer, kvsapi.ClientMessage{Action: "SDP_OFFER"}, "missing_payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.msg
			err := validateClientMessage(&msg, tc.role, 8)
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reason != "" && (err == nil || err.reason != tc.reason):
				t.Fatalf("got %v, want reason %s", err, tc.reason)
			case tc.role == bus.RoleViewer && msg.RecipientClientID != "":
				t.Fatalf("viewer recipient kept: %q", msg.RecipientClientID)
			}
		})
	}
}

func TestValidBase64(t *testing.T) {
	for s, want := range map[string]bool{
		"YQ==": true, "YWI=": true, "YWJj": true, "YWJjZA": true, "YWJjZGU": true, "+/+/": true,
		"": false, "=": false, "====": false, "Y===": false, "YQ=": false, "Y": false, "YWJjZ": false,
		"YQ==YQ==": false, "YW-j": false, "YW_j": false, "YW j": false, "YWJ\n": false,
	} {
		if got := validBase64(s); got != want {
			t.Errorf("validBase64(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestEventEncoding(t *testing.T) {
	env := bus.Envelope{Type: "SDP_OFFER", SenderClientID: "viewer-1", Payload: offerPayload}
	for _, withSender := range []bool{true, false} {
		got := appendEvent(nil, withSender, env)
		if len(got) != eventSize(withSender, env) {
			t.Fatalf("eventSize = %d, encoded %d bytes", eventSize(withSender, env), len(got))
		}
		want := toViewer("SDP_OFFER", offerPayload)
		if withSender {
			want = toMaster("viewer-1", "SDP_OFFER", offerPayload)
		}
		if string(got) != want {
			t.Fatalf("event %s, want %s", got, want)
		}
	}
	// Values that bypassed validation are escaped, never break the JSON.
	odd := bus.Envelope{Type: "ICE_CANDIDATE", SenderClientID: `a"b`, Payload: "x\\y\n\u00e9"}
	var ev kvsapi.Event
	if err := json.Unmarshal(appendEvent(nil, true, odd), &ev); err != nil || ev.SenderClientID != odd.SenderClientID || ev.MessagePayload != odd.Payload {
		t.Fatalf("escaped event decodes to %+v, %v", ev, err)
	}
	assertDeliveryFrame(t, env)
	assertDeliveryFrame(t, odd)
	sr := string(statusResponseFrame(invalidMessage("r", "c-42", "RecipientClientId is required")))
	if sr != `{"messageType":"STATUS_RESPONSE","statusResponse":{"correlationId":"c-42","success":false,"errorType":"InvalidArgumentException","statusCode":"400","description":"RecipientClientId is required"}}` {
		t.Fatalf("STATUS_RESPONSE frame %s", sr)
	}
	if string(goAwayFrame) != `{"messageType":"GO_AWAY"}` || string(reconnectICEServerFrame) != `{"messageType":"RECONNECT_ICE_SERVER"}` {
		t.Fatalf("control frames %s %s", goAwayFrame, reconnectICEServerFrame)
	}
}

// FuzzDecodeClientMessage feeds arbitrary frames to the decoder and the
// validator: they must never panic, and whatever they accept must be safe
// to relay (valid action, base64 payload within the limit, a valid
// recipient from a master) and must encode to valid JSON that decodes back
// to the same payload.
func FuzzDecodeClientMessage(f *testing.F) {
	for _, seed := range []string{
		`{"action":"SDP_OFFER","messagePayload":"` + offerPayload + `"}`,
		`{"action":"ICE_CANDIDATE","messagePayload":"` + candPayload + `","correlationId":"corr-1"}`,
		`{"action":"SDP_ANSWER","messagePayload":"` + answerPayload + `","recipientClientId":"viewer-1"}`,
		"{\n\t\"action\": \"SDP_OFFER\",\n\t\"RecipientClientId\": \"ProducerMaster\",\n\t\"MessagePayload\": \"YQ==\",\n\t\"IceServerList\": []\n}",
		`{"correlationId":"x",`, `null`, `[]`, `"s"`, `{"action":1}`, ``,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, frame []byte, asMaster bool) {
		role := bus.RoleViewer
		if asMaster {
			role = bus.RoleMaster
		}
		msg, err := decodeClientMessage(frame)
		if err == nil {
			err = validateClientMessage(&msg, role, kvsapi.MaxMessagePayloadLength)
		}
		if err != nil {
			if err.correlationID != "" && kvsapi.ValidateCorrelationID("c", err.correlationID) != nil {
				t.Fatalf("refusal carries an invalid correlation id %q", err.correlationID)
			}
			if len(err.description) > maxDescription || err.code.Name == "" {
				t.Fatalf("bad refusal %+v", err)
			}
			if !json.Valid(statusResponseFrame(err)) {
				t.Fatalf("STATUS_RESPONSE is not JSON")
			}
			return
		}
		if !kvsapi.IsRelayedAction(msg.Action) || !validBase64(msg.MessagePayload) || len(msg.MessagePayload) > kvsapi.MaxMessagePayloadLength {
			t.Fatalf("accepted an unsafe message %+v", msg)
		}
		if asMaster && kvsapi.ValidateClientID("r", msg.RecipientClientID) != nil {
			t.Fatalf("accepted an invalid recipient %q", msg.RecipientClientID)
		}
		env := bus.Envelope{Type: msg.Action, SenderClientID: "viewer-1", Payload: msg.MessagePayload}
		out := appendEvent(nil, true, env)
		var ev kvsapi.Event
		if json.Unmarshal(out, &ev) != nil || ev.MessagePayload != msg.MessagePayload || len(out) != eventSize(true, env) {
			t.Fatalf("event %s does not round-trip", out)
		}
	})
}

// assertDeliveryFrame checks the frame a master's writer makes for env, as
// a client reads it: one whole text frame, after the bytes already in the
// buffer, whose event decodes to env. An envelope that needs escaping has
// a longer event than eventSize says, and is framed at its real length.
func assertDeliveryFrame(t *testing.T, env bus.Envelope) {
	t.Helper()
	c := &conn{addr: bus.MasterOf("111122223333", "cam")}
	out := c.appendFrame([]byte("earlier"), outbound{env: env})
	if !bytes.HasPrefix(out, []byte("earlier")) {
		t.Fatal("the bytes before the frame changed")
	}
	r := bytes.NewReader(out[len("earlier"):])
	h, err := ws.ReadHeader(r)
	if err != nil || !h.Fin || h.OpCode != ws.OpText || h.Masked || h.Length != int64(r.Len()) {
		t.Fatalf("header %+v (%v) for %d bytes of payload", h, err, r.Len())
	}
	var ev kvsapi.Event
	if err := json.NewDecoder(r).Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.SenderClientID != env.SenderClientID || ev.MessageType != env.Type || ev.MessagePayload != env.Payload {
		t.Fatalf("event %+v for envelope %+v", ev, env)
	}
}
