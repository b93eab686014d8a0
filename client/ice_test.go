package client

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestToICEServersSkipsUnusable: URLs pion would refuse are left out (and
// logged), the rest of their entry is kept, and what remains is accepted
// by NewPeerConnection.
func TestToICEServersSkipsUnusable(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	list := []kvsapi.IceServer{{
		Uris:     []string{"turn:relay.example:3478?transport=udp"}, // no username
		Password: "p", Ttl: 300,
	}, {
		Uris: []string{
			"turn:relay.example:3478?transport=udp",
			"http://relay.example/",              // not an ICE scheme
			"turn:relay.example:3478?transport=", // bad transport
			"stun:relay.example:3478?transport=udp",
		},
		Username: "u", Password: "p", Ttl: 300,
	}, {
		Uris: []string{"turns:[::1"}, Username: "u", Password: "p", Ttl: 300,
	}}
	got := toICEServers(list, "stun:", log)
	want := []webrtc.ICEServer{
		{URLs: []string{"turn:relay.example:3478?transport=udp"}, Username: "u", Credential: "p"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if n := strings.Count(logs.String(), "skipping"); n != 6 {
		t.Errorf("%d skip lines, want 6:\n%s", n, logs.String())
	}
	api, err := ICEConfig{}.newAPI(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: got})
	if err != nil {
		t.Fatalf("pion refused what toICEServers kept: %v", err)
	}
	_ = pc.Close()
}

func TestSTUNURLChecked(t *testing.T) {
	kvs, err := New(Config{Endpoint: "https://127.0.0.1:1", Region: "us-west-2", Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"stun:mine:3478", "stuns:mine:5349", "STUN:mine"} {
		if _, err := NewViewer(ViewerConfig{Client: kvs, Channel: "c", ICE: ICEConfig{STUNURL: u}}); err != nil {
			t.Errorf("NewViewer refused STUNURL %q: %v", u, err)
		}
	}
	for _, u := range []string{"stun:", "mine:3478", "stun://mine", "turn:mine:3478", "stun:mine:3478?transport=udp"} {
		if _, err := NewViewer(ViewerConfig{Client: kvs, Channel: "c", ICE: ICEConfig{STUNURL: u}}); err == nil {
			t.Errorf("NewViewer accepted STUNURL %q", u)
		}
		if _, err := NewMaster(MasterConfig{Client: kvs, Channel: "c", ICE: ICEConfig{STUNURL: u}}); err == nil {
			t.Errorf("NewMaster accepted STUNURL %q", u)
		}
	}
}

func TestICETTL(t *testing.T) {
	entry := func(ttl int) kvsapi.IceServer { return kvsapi.IceServer{Ttl: ttl} }
	for _, tc := range []struct {
		name string
		list []kvsapi.IceServer
		want time.Duration
	}{
		{"empty", nil, defaultICETTL},
		{"missing", []kvsapi.IceServer{entry(0)}, defaultICETTL},
		{"negative", []kvsapi.IceServer{entry(-5)}, defaultICETTL},
		{"shortest", []kvsapi.IceServer{entry(600), entry(120), entry(0)}, 120 * time.Second},
		{"huge", []kvsapi.IceServer{entry(1 << 62)}, maxICETTL},
		{"long", []kvsapi.IceServer{entry(3 * 86400)}, maxICETTL},
	} {
		if got := iceTTL(tc.list); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fakeICEService answers GetIceServerConfig with list and counts the
// requests.
func fakeICEService(t *testing.T, list []kvsapi.IceServer) (*Client, string, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := quietTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != kvsapi.PathGetIceServerConfig {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(kvsapi.GetIceServerConfigOutput{IceServerList: list})
	}))
	t.Cleanup(srv.Close)
	kvs, err := New(Config{Endpoint: srv.URL, Region: "us-west-2", Credentials: testCreds, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return kvs, srv.URL, &calls
}

// TestICEServerCacheKeepsEmptyList: a reply with no servers (and no STUN
// to add) is cached like any other, and a missing Ttl lasts the default.
func TestICEServerCacheKeepsEmptyList(t *testing.T) {
	kvs, url, calls := fakeICEService(t, []kvsapi.IceServer{})
	c := &iceServerCache{kvs: kvs, https: url, arn: testARN}
	for range 3 {
		if servers, err := c.get(context.Background()); err != nil || len(servers) != 0 {
			t.Fatalf("get: %v, %v", servers, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if d := c.staleIn(); d < defaultICETTL-iceRefreshGrace-time.Minute {
		t.Fatalf("stale in %v, want about %v", d, defaultICETTL-iceRefreshGrace)
	}
	c.invalidate()
	if _, err := c.get(context.Background()); err != nil || calls.Load() != 2 {
		t.Fatalf("after invalidate: %v, %d requests", err, calls.Load())
	}
}

// TestICEServerCacheZeroTTL: entries without a Ttl are not fetched again
// on every call.
func TestICEServerCacheZeroTTL(t *testing.T) {
	kvs, url, calls := fakeICEService(t, []kvsapi.IceServer{{Uris: []string{"turn:relay.example:3478"}, Username: "u", Password: "p"}})
	c := &iceServerCache{kvs: kvs, https: url, arn: testARN, relayOnly: true}
	for range 3 {
		if servers, err := c.get(context.Background()); err != nil || len(servers) != 1 {
			t.Fatalf("get: %v, %v", servers, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// TestICEServerCacheMoveTo: after a rejoin hands out another endpoint or
// channel ARN, the next fetch goes there; the same ones keep the cache.
func TestICEServerCacheMoveTo(t *testing.T) {
	kvs, first, firstCalls := fakeICEService(t, []kvsapi.IceServer{})
	_, second, secondCalls := fakeICEService(t, []kvsapi.IceServer{})
	c := &iceServerCache{kvs: kvs, https: first, arn: testARN}
	if _, err := c.get(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.moveTo(first, testARN)
	if _, err := c.get(context.Background()); err != nil || firstCalls.Load() != 1 {
		t.Fatalf("same endpoint: %v, %d requests, want the cached reply", err, firstCalls.Load())
	}
	c.moveTo(second, testARN)
	if _, err := c.get(context.Background()); err != nil || secondCalls.Load() != 1 || firstCalls.Load() != 1 {
		t.Fatalf("new endpoint: %v; %d requests to the old, %d to the new, want 1 and 1", err, firstCalls.Load(), secondCalls.Load())
	}
}

// TestICEServerCacheFreshFor: a caller who needs servers fresh for a
// while longer (the master answering an ICE restart) gets them fetched
// again when the cached ones end sooner; plain get keeps using them.
func TestICEServerCacheFreshFor(t *testing.T) {
	kvs, url, calls := fakeICEService(t, []kvsapi.IceServer{{Uris: []string{"turn:relay.example:3478"}, Username: "u", Password: "p", Ttl: 31}})
	c := &iceServerCache{kvs: kvs, https: url, arn: testARN}
	if _, err := c.getFreshFor(context.Background(), 10*time.Second); err != nil || calls.Load() != 1 {
		t.Fatalf("first fetch: %v, %d requests", err, calls.Load())
	}
	if _, err := c.getFreshFor(context.Background(), 10*time.Second); err != nil || calls.Load() != 1 {
		t.Fatalf("fresh for 15s, asked for 10s: %v, %d requests, want the cached reply", err, calls.Load())
	}
	c.mu.Lock()
	c.expires = time.Now().Add(5 * time.Second)
	c.mu.Unlock()
	if _, err := c.get(context.Background()); err != nil || calls.Load() != 1 {
		t.Fatalf("plain get while fresh: %v, %d requests, want the cached reply", err, calls.Load())
	}
	if _, err := c.getFreshFor(context.Background(), 10*time.Second); err != nil || calls.Load() != 2 {
		t.Fatalf("fresh for 5s, asked for 10s: %v, %d requests, want a new fetch", err, calls.Load())
	}
}
