package app

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
)

// TestRouterCORS: API replies carry CORS headers for browser SDKs; the
// probes and metrics do not, so other web sites cannot read them through
// a visitor's browser.
func TestRouterCORS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	router := newRouter(routes{api: ok, metrics: prometheus.NewRegistry()})
	for _, tc := range []struct {
		method, path string
		cors         bool
	}{
		{http.MethodPost, "/describeSignalingChannel", true},
		{http.MethodOptions, "/describeSignalingChannel", true},
		{http.MethodGet, "/metrics", false},
		{http.MethodGet, "/healthz", false},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set("Origin", "https://elsewhere.example")
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)
		got := rec.Header().Get("Access-Control-Allow-Origin")
		if tc.cors && got != "https://elsewhere.example" || !tc.cors && got != "" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q, want CORS %v", tc.method, tc.path, got, tc.cors)
		}
	}
}

// TestReadyzDuringShutdown: /readyz answers 200 while the server serves
// and its store answers, and 503 from the moment shutdown begins, so that
// a load balancer stops sending new clients to a server that refuses them.
func TestReadyzDuringShutdown(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "switchboard.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var shuttingDown atomic.Bool
	router := newRouter(routes{store: st, metrics: prometheus.NewRegistry(), shuttingDown: shuttingDown.Load})
	status := func() int {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("/readyz while serving: %d, want 200", got)
	}
	shuttingDown.Store(true)
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz once shutdown began: %d, want 503", got)
	}
}
