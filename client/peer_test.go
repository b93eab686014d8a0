package client

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

func TestToICEServers(t *testing.T) {
	list := []kvsapi.IceServer{{
		Uris: []string{
			"turn:relay.example:443?transport=udp",
			"turns:relay.example:443?transport=udp", // TURN over DTLS: left out
			"turns:relay.example:443?transport=tcp",
		},
		Username: "1700000000:user", Password: "secret", Ttl: 300,
	}, {
		Uris: []string{"TURNS:other.example:443?transport=UDP"}, Username: "u", Password: "p", Ttl: 300,
	}}
	got := toICEServers(list, "stun:stun.example:443", slog.New(slog.DiscardHandler))
	want := []webrtc.ICEServer{
		{URLs: []string{"stun:stun.example:443"}},
		{URLs: []string{"turn:relay.example:443?transport=udp", "turns:relay.example:443?transport=tcp"}, Username: "1700000000:user", Credential: "secret"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !hasTURN(got) || hasTURN(got[:1]) {
		t.Fatal("hasTURN is wrong")
	}
}

func TestSTUNURLChoice(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		cfg      ICEConfig
		want     string
	}{
		{"real KVS", "https://kinesisvideo.eu-west-1.amazonaws.com", ICEConfig{}, "stun:stun.kinesisvideo.eu-west-1.amazonaws.com:443"},
		{"loopback address", "https://127.0.0.1:8443", ICEConfig{}, ""},
		{"IPv6 loopback", "https://[::1]:8443", ICEConfig{}, ""},
		{"localhost", "https://LOCALHOST:8443", ICEConfig{}, ""},
		{"skipped", "https://kvs.example.com", ICEConfig{SkipDefaultSTUN: true}, ""},
		{"given", "https://127.0.0.1:8443", ICEConfig{STUNURL: "stun:mine:3478"}, "stun:mine:3478"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kvs, err := New(Config{Endpoint: tc.endpoint, Region: "eu-west-1", Credentials: StaticCredentials{AccessKeyID: "a", SecretAccessKey: "b"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.cfg.stunURL(kvs); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	a := "v=0\r\na=fingerprint:sha-256 AB:CD\r\nm=video 9\r\na=fingerprint:sha-256 AB:CD\r\n"
	b := "v=0\r\nm=audio 9\r\na=fingerprint:SHA-256 ab:cd\r\n"
	c := "v=0\r\na=fingerprint:sha-256 EF:01\r\n"
	if fingerprint(a) != fingerprint(b) || fingerprint(a) == fingerprint(c) || fingerprint("v=0") != "" {
		t.Fatalf("fingerprints: %q %q %q", fingerprint(a), fingerprint(b), fingerprint(c))
	}
}

func TestCandidateOutboxHoldsUntilRelease(t *testing.T) {
	var sent []string
	o := &candidateOutbox{send: func(c ICECandidate) { sent = append(sent, c.Candidate) }}
	candidate := func(port int) *webrtc.ICECandidate {
		return &webrtc.ICECandidate{Foundation: "1", Priority: 1, Address: "127.0.0.1", Protocol: webrtc.ICEProtocolUDP, Port: uint16(port), Typ: webrtc.ICECandidateTypeHost, Component: 1}
	}
	o.add(candidate(1000))
	o.add(nil) // end of gathering is not signaled
	if len(sent) != 0 {
		t.Fatalf("sent %v before release", sent)
	}
	o.release()
	o.add(candidate(1001))
	o.hold()
	o.add(candidate(1002))
	if len(sent) != 2 {
		t.Fatalf("sent %v, want the first two", sent)
	}
	o.release()
	if len(sent) != 3 {
		t.Fatalf("sent %v, want all three", sent)
	}
}

func TestRateMeter(t *testing.T) {
	var r rateMeter
	base := time.Unix(1000, 0)
	for i := range 40 { // 2 seconds: 1250 bytes every 50 ms = 200 kbit/s
		r.add(1250, base.Add(time.Duration(i)*50*time.Millisecond))
	}
	got := r.bitsPerSecond(base.Add(2 * time.Second))
	if got < 199_000 || got > 201_000 {
		t.Fatalf("rate %.0f bit/s, want 200000", got)
	}
	if later := r.bitsPerSecond(base.Add(10 * time.Second)); later != 0 {
		t.Fatalf("rate %.0f long after the last byte, want 0", later)
	}
}

func TestViewerStatsPacketLoss(t *testing.T) {
	for _, tc := range []struct {
		received uint64
		lost     int64
		want     float64
	}{{0, 0, 0}, {90, 10, 0.1}, {100, -2, 0}} {
		if got := (ViewerStats{PacketsReceived: tc.received, PacketsLost: tc.lost}).PacketLoss(); got != tc.want {
			t.Errorf("%d/%d: %v, want %v", tc.received, tc.lost, got, tc.want)
		}
	}
}

func TestPeerConfigChecks(t *testing.T) {
	kvs, _ := New(Config{Endpoint: "https://127.0.0.1:1", Region: "us-west-2", Credentials: StaticCredentials{AccessKeyID: "a", SecretAccessKey: "b"}})
	if _, err := NewMaster(MasterConfig{Channel: "c"}); err == nil {
		t.Error("NewMaster accepted a config without a Client")
	}
	if _, err := NewViewer(ViewerConfig{Client: kvs, Channel: "c", ClientID: "AWS_reserved"}); err == nil {
		t.Error("NewViewer accepted a reserved client id")
	}
	v, err := NewViewer(ViewerConfig{Client: kvs, Channel: "c"})
	if err != nil {
		t.Fatalf("NewViewer: %v", err)
	}
	if len(v.ClientID()) < len("viewer-x") {
		t.Fatalf("client id %q, want a generated viewer-... id", v.ClientID())
	}
	if err := v.RestartICE(); err == nil {
		t.Error("RestartICE succeeded on a viewer that is not running")
	}
	if err := v.Send([]byte("x")); err == nil {
		t.Error("Send succeeded without a data channel")
	}
}
