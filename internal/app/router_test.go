package app

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
