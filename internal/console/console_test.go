package console

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func devKeys() (string, string, bool) { return "SBAKDEVELOPMENT0001", "development-secret-0001", true }

func newConsole(t *testing.T, cfg Config, dev func() (string, string, bool)) *Console {
	t.Helper()
	c, err := New(cfg, Deps{Region: "us-west-2", DevCredentials: dev})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get serves one request the way the router would hand it over: from a
// remote address, with the router's CORS headers already set.
func get(t *testing.T, h http.Handler, method, target string, mutate func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "127.0.0.1:50000"
	r.Host = "localhost:8443"
	if mutate != nil {
		mutate(r)
	}
	w := httptest.NewRecorder()
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "x-amzn-RequestId")
	h.ServeHTTP(w, r)
	return w
}

func TestConfigValidate(t *testing.T) {
	for _, mode := range []string{DevLoginAuto, DevLoginOn, DevLoginOff} {
		if err := (Config{Enabled: true, DevLogin: mode}).Validate(); err != nil {
			t.Errorf("%q: %v", mode, err)
		}
	}
	for _, mode := range []string{"", "yes", "AUTO"} {
		err := (Config{Enabled: true, DevLogin: mode}).Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "console.dev_login:") {
			t.Errorf("%q: want a console.dev_login error, got %v", mode, err)
		}
	}
	if d := DefaultConfig(); !d.Enabled || d.DevLogin != DevLoginAuto {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	if _, err := New(DefaultConfig(), Deps{}); !errors.Is(err, ErrNoRegion) {
		t.Errorf("no region: got %v", err)
	}
	if _, err := New(Config{Enabled: true, DevLogin: "sometimes"}, Deps{Region: "us-east-1"}); err == nil {
		t.Error("bad dev_login accepted")
	}
}

func TestRoutes(t *testing.T) {
	h := newConsole(t, DefaultConfig(), nil).Handler()
	tests := []struct {
		name, method, path string
		status             int
		contentType        string
	}{
		{"root page", "GET", "/console/", 200, "text/html; charset=utf-8"},
		{"sign-in page", "GET", "/console/signin", 200, "text/html; charset=utf-8"},
		{"channel list", "GET", "/console/channels", 200, "text/html; charset=utf-8"},
		{"channel page", "GET", "/console/channels/demo.cam_1-a", 200, "text/html; charset=utf-8"},
		{"master page", "GET", "/console/channels/demo/master", 200, "text/html; charset=utf-8"},
		{"viewer page", "GET", "/console/channels/demo/viewer", 200, "text/html; charset=utf-8"},
		{"unknown page", "GET", "/console/channels/demo/other", 404, "text/html; charset=utf-8"},
		{"bad channel name", "GET", "/console/channels/a%20b", 404, "text/html; charset=utf-8"},
		{"script", "GET", "/console/assets/js/app.js", 200, "text/javascript; charset=utf-8"},
		{"style", "GET", "/console/assets/css/app.css", 200, "text/css; charset=utf-8"},
		{"icon", "GET", "/console/assets/favicon.svg", 200, "image/svg+xml"},
		{"missing asset", "GET", "/console/assets/js/nope.js", 404, "application/json"},
		{"asset traversal", "GET", "/console/assets/../index.html", 404, "application/json"},
		{"page config", "GET", "/console/config.json", 200, "application/json"},
		{"head", "HEAD", "/console/channels", 200, "text/html; charset=utf-8"},
		{"post", "POST", "/console/channels", 404, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, tt.method, tt.path, nil)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if tt.method == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD wrote a body of %d bytes", w.Body.Len())
			}
			if w.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Error("the console must not be readable from other origins")
			}
		})
	}
}

func TestRedirectsBarePrefix(t *testing.T) {
	w := get(t, newConsole(t, DefaultConfig(), nil).Handler(), "GET", "/console?x=1", nil)
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/console/?x=1" {
		t.Errorf("got %d to %q", w.Code, w.Header().Get("Location"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	w := get(t, newConsole(t, DefaultConfig(), nil).Handler(), "GET", "/console/", nil)
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'",
		"connect-src 'self' wss://localhost:8443", "media-src 'self' blob: mediastream:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	for name, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// A Host that could break out of the header is left out of the policy.
	w = get(t, newConsole(t, DefaultConfig(), nil).Handler(), "GET", "/console/", func(r *http.Request) { r.Host = "evil; script-src *" })
	if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") {
		t.Errorf("CSP repeats a hostile Host: %q", csp)
	}
}

// The pages call the endpoints the server advertises (GetIceServerConfig
// on the HTTPS one, the WebSocket on the WSS one), which need not be the
// host the console was opened under: the policy must allow both.
func TestSecurityHeadersAllowAdvertisedEndpoints(t *testing.T) {
	c, err := New(DefaultConfig(), Deps{Region: "us-west-2", PublicHTTPS: "https://localhost:8443", PublicWSS: "wss://localhost:8443"})
	if err != nil {
		t.Fatal(err)
	}
	w := get(t, c.Handler(), "GET", "/console/", func(r *http.Request) { r.Host = "127.0.0.1:8443" })
	csp := w.Header().Get("Content-Security-Policy")
	want := "connect-src 'self' wss://127.0.0.1:8443 https://localhost:8443 wss://localhost:8443;"
	if !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks %q", csp, want)
	}

	// Opened under the advertised host itself, nothing is named twice.
	w = get(t, c.Handler(), "GET", "/console/", nil)
	csp = w.Header().Get("Content-Security-Policy")
	want = "connect-src 'self' wss://localhost:8443 https://localhost:8443;"
	if !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks %q", csp, want)
	}

	// A configured public host is only checked for "/?# " by the config;
	// anything that could add a directive or widen the source stays out.
	for _, bad := range []string{"https://evil;script-src", "https://*", "https://a.example/path", "https://u@a.example", "http://a.example", "wss://a.example"} {
		c, err := New(DefaultConfig(), Deps{Region: "us-west-2", PublicHTTPS: bad})
		if err != nil {
			t.Fatal(err)
		}
		csp := get(t, c.Handler(), "GET", "/console/", nil).Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "connect-src 'self' wss://localhost:8443;") {
			t.Errorf("PublicHTTPS %q: CSP %q", bad, csp)
		}
	}
}

func TestETagRevalidation(t *testing.T) {
	h := newConsole(t, DefaultConfig(), nil).Handler()
	first := get(t, h, "GET", "/console/assets/js/app.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := get(t, h, "GET", "/console/assets/js/app.js", func(r *http.Request) { r.Header.Set("If-None-Match", etag) })
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("revalidation: %d with %d bytes", again.Code, again.Body.Len())
	}
}

func TestDisabled(t *testing.T) {
	h := newConsole(t, Config{Enabled: false, DevLogin: DevLoginAuto}, devKeys).Handler()
	for _, p := range []string{"/console/", "/console/dev-credentials", "/console/assets/js/app.js"} {
		if w := get(t, h, "GET", p, nil); w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}
}

func TestDevCredentialsRule(t *testing.T) {
	noKeys := func() (string, string, bool) { return "", "", false }
	tests := []struct {
		name   string
		mode   string
		dev    func() (string, string, bool)
		remote string
		host   string
		header map[string]string
		ok     bool
	}{
		{name: "auto, loopback", mode: DevLoginAuto, dev: devKeys, remote: "127.0.0.1:5", host: "localhost:8443", ok: true},
		{name: "auto, IPv6 loopback", mode: DevLoginAuto, dev: devKeys, remote: "[::1]:5", host: "[::1]:8443", ok: true},
		{name: "auto, loopback IP host", mode: DevLoginAuto, dev: devKeys, remote: "127.0.0.1:5", host: "127.0.0.1:8443", ok: true},
		{name: "auto, same-origin fetch", mode: DevLoginAuto, dev: devKeys, remote: "127.0.0.1:5", host: "localhost:8443",
			header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost:8443"}, ok: true},
		{name: "auto, remote client", mode: DevLoginAuto, dev: devKeys, remote: "192.0.2.7:5", host: "localhost:8443"},
		{name: "auto, non-loopback host name", mode: DevLoginAuto, dev: devKeys, remote: "127.0.0.1:5", host: "rebound.example:8443"},
		{name: "auto, configured keys", mode: DevLoginAuto, dev: noKeys, remote: "127.0.0.1:5", host: "localhost:8443"},
		{name: "auto, no provider", mode: DevLoginAuto, remote: "127.0.0.1:5", host: "localhost:8443"},
		{name: "auto, other origin", mode: DevLoginAuto, dev: devKeys, remote: "127.0.0.1:5", host: "localhost:8443",
			header: map[string]string{"Origin": "https://evil.example"}},
		{name: "auto, cross-site fetch", mode: DevLoginAuto, dev: devKeys, remote: "127.0.0.1:5", host: "localhost:8443",
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{name: "on, remote client", mode: DevLoginOn, dev: devKeys, remote: "192.0.2.7:5", host: "devbox:8443", ok: true},
		{name: "on, configured keys", mode: DevLoginOn, dev: noKeys, remote: "192.0.2.7:5", host: "devbox:8443"},
		{name: "off, loopback", mode: DevLoginOff, dev: devKeys, remote: "127.0.0.1:5", host: "localhost:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newConsole(t, Config{Enabled: true, DevLogin: tt.mode}, tt.dev).Handler()
			set := func(r *http.Request) {
				r.RemoteAddr, r.Host = tt.remote, tt.host
				for k, v := range tt.header {
					r.Header.Set(k, v)
				}
			}
			w := get(t, h, "GET", "/console/dev-credentials", set)
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Error("dev credentials must not be cached")
			}
			if !tt.ok {
				var body struct {
					Type    string `json:"__type"`
					Message string `json:"Message"`
				}
				_ = json.Unmarshal(w.Body.Bytes(), &body)
				if w.Code != http.StatusForbidden || body.Type != "AccessDeniedException" || body.Message == "" ||
					w.Header().Get("x-amzn-ErrorType") != "AccessDeniedException" {
					t.Fatalf("want 403 AccessDeniedException with a message, got %d %s", w.Code, w.Body)
				}
				if strings.Contains(w.Body.String(), "development-secret") {
					t.Fatal("the refusal leaks the secret")
				}
			} else {
				var got devCredentials
				if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil {
					t.Fatalf("want 200 JSON, got %d %s", w.Code, w.Body)
				}
				if got.AccessKeyID != "SBAKDEVELOPMENT0001" || got.SecretAccessKey != "development-secret-0001" || got.Region != "us-west-2" {
					t.Errorf("got %+v", got)
				}
			}
			// The page config offers the button exactly when the rule allows
			// (the cross-origin checks only guard the keys themselves).
			var cfg pageConfig
			w = get(t, h, "GET", "/console/config.json", set)
			if err := json.Unmarshal(w.Body.Bytes(), &cfg); err != nil || cfg.Region != "us-west-2" {
				t.Fatalf("config.json: %v %s", err, w.Body)
			}
			if _, hasOrigin := tt.header["Origin"]; !hasOrigin && tt.header["Sec-Fetch-Site"] != "cross-site" && cfg.DevLogin != tt.ok {
				t.Errorf("config.json devLogin = %v, want %v", cfg.DevLogin, tt.ok)
			}
		})
	}
}

// The pages must obey their own Content-Security-Policy: no inline script,
// no inline style, no event-handler attributes, nothing from the network.
func TestPagesNeedNothingTheCSPForbids(t *testing.T) {
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`),
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
	}
	remote := regexp.MustCompile(`(?:src|href)=["']?(?:https?:)?//`)
	err := fs.WalkDir(web, "web", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := fs.ReadFile(web, name)
		text := string(data)
		if strings.HasSuffix(name, ".html") {
			for _, re := range inline {
				if re.MatchString(text) {
					t.Errorf("%s: %s is blocked by the CSP", name, re)
				}
			}
		}
		if remote.MatchString(text) {
			t.Errorf("%s loads something from the network", name)
		}
		if strings.HasSuffix(name, ".js") && (strings.Contains(text, "innerHTML") || strings.Contains(text, "eval(")) {
			t.Errorf("%s parses strings as code or markup", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every relative import in every module names an embedded file, so a typo
// cannot ship a console that fails to start.
func TestModuleImportsResolve(t *testing.T) {
	a, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	imports := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'`)
	for name := range a.files {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(string(a.files[name].body), -1) {
			target := path.Join(path.Dir(name), m[1])
			if _, ok := a.files[target]; !ok {
				t.Errorf("%s imports %s, which is not embedded", name, m[1])
			}
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "127.8.9.1:1": true, "[::1]:1": true,
		"[::ffff:127.0.0.1]:1": true, "192.0.2.1:1": false, "[2001:db8::1]:1": false, "garbage": false} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v", addr, got)
		}
	}
	for host, want := range map[string]bool{"localhost": true, "localhost:8443": true, "LOCALHOST.": true,
		"app.localhost:1": true, "127.0.0.1:8443": true, "[::1]:8443": true, "example.com": false, "10.0.0.1": false} {
		if got := isLoopbackHost(host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v", host, got)
		}
	}
}
