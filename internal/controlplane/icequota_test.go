package controlplane

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// recordingIce remembers the channel keys GetIceServerConfig's quota was
// asked about.
type recordingIce struct {
	mu   sync.Mutex
	keys []string
}

func (r *recordingIce) AdmitCall(_, channelARN string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, channelARN)
	return nil
}

func (r *recordingIce) IceServers(context.Context, auth.Principal, store.Channel, string) ([]kvsapi.IceServer, error) {
	return stunFixture{}.IceServers(context.Background(), auth.Principal{}, store.Channel{}, "")
}

// TestIceQuotaIgnoresMalformedARNs: like every other operation's channel
// quota (TestInvalidChannelsAreNotKeys), GetIceServerConfig's must not be
// charged for, or keyed by, a ChannelARN that is not an ARN: such a call is
// an InvalidArgumentException, and its ARN (up to server.max_body_bytes
// long) must never become a rate-limit bucket key.
func TestIceQuotaIgnoresMalformedARNs(t *testing.T) {
	f := newQuotaFixture(t, DefaultConfig())
	ice := &recordingIce{}
	api, err := New(Options{
		Channels: f.api.channels, Auth: headerCaller{}, Presence: nobodyConnected{}, IceServers: ice,
		Endpoints: Endpoints{HTTPS: "https://localhost", WSS: "wss://localhost"}, MaxBodyBytes: 64 << 10,
		Registerer: prometheus.NewRegistry(), Limits: DefaultConfig(), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	for _, arn := range []string{"not-an-arn", strings.Repeat("x", 50<<10), "arn:aws:s3:::bucket"} {
		status, e := f.call(t, "111122223333", kvsapi.PathGetIceServerConfig, fmt.Sprintf(`{"ChannelARN":%q}`, arn))
		if status != 400 || e.Type != kvsapi.CodeInvalidArgument.Name {
			t.Fatalf("malformed ARN: got %d %s, want 400 InvalidArgumentException", status, e.Type)
		}
	}
	if len(ice.keys) != 0 {
		t.Errorf("GetIceServerConfig's channel quota was charged for %d malformed ARNs (the longest %d bytes); want none",
			len(ice.keys), len(longest(ice.keys)))
	}
}

// longest returns the longest of ss.
func longest(ss []string) string {
	var out string
	for _, s := range ss {
		if len(s) > len(out) {
			out = s
		}
	}
	return out
}
