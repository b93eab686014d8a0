package console

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-rtc/switchboard/internal/httpx"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Paths served by the console.
const (
	Prefix             = "/console/"
	pathConfig         = Prefix + "config.json"
	pathDevCredentials = Prefix + "dev-credentials"
	pathAssets         = Prefix + "assets/"
)

// pageRoute matches the addresses of the console's pages (the same list
// the page's own router knows); each is answered with index.html.
var pageRoute = regexp.MustCompile(`^/console/(signin|channels(/[A-Za-z0-9_.-]{1,256}(/(master|viewer))?)?)?$`)

// hostPattern accepts Host header values that are safe to repeat in the
// Content-Security-Policy.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

func (c *Console) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c.setSecurityHeaders(w, r)
	p := r.URL.Path
	switch {
	case !c.cfg.Enabled:
		httpx.WriteError(w, r, kvsapi.Errorf(kvsapi.CodeUnknownOperation, "The web console is turned off on this server (console.enabled: false)"))
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		httpx.WriteError(w, r, kvsapi.Errorf(kvsapi.CodeUnknownOperation, "The console answers GET and HEAD, got %s %s", r.Method, p))
	case p == "/console":
		target := Prefix
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	case p == pathConfig:
		c.serveConfig(w, r)
	case p == pathDevCredentials:
		c.serveDevCredentials(w, r)
	case strings.HasPrefix(p, pathAssets):
		c.serveAsset(w, r, strings.TrimPrefix(p, pathAssets))
	case pageRoute.MatchString(p):
		serveFile(w, r, c.assets.index, http.StatusOK)
	default:
		// An unknown page: the page itself says "not found" and offers a
		// way back, with the status a crawler or curl expects.
		serveFile(w, r, c.assets.index, http.StatusNotFound)
	}
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	f, ok := c.assets.lookup(rest)
	if !ok {
		httpx.WriteError(w, r, kvsapi.Errorf(kvsapi.CodeResourceNotFound, "The console has no file %s", r.URL.Path))
		return
	}
	serveFile(w, r, f, http.StatusOK)
}

// serveFile writes an embedded file. Every file is revalidated on each use
// (no-cache) and answered 304 when the browser's copy is current, so a new
// server version is picked up at once without a build step hashing names.
func serveFile(w http.ResponseWriter, r *http.Request, f *asset, status int) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if status == http.StatusOK && etagMatches(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
}

// etagMatches reports whether an If-None-Match header names etag.
func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}

// setSecurityHeaders keeps the pages to their own origin: scripts and
// styles only from it, requests only to it, its WebSocket endpoint and the
// endpoints the server advertises, media only from the camera or blobs,
// no framing, no referrer. The router's CORS headers are removed: nothing
// under /console/ is meant for other origins, least of all the development
// keys.
func (c *Console) setSecurityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"} {
		h.Del(name)
	}
	h.Set("Content-Security-Policy", contentSecurityPolicy(r.Host, c.connect))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()")
}

// contentSecurityPolicy is the policy for a page served to host. extra
// are origins the pages may also connect to (already checked by
// cspOrigin); duplicates of the request's own are dropped.
func contentSecurityPolicy(host string, extra []string) string {
	sources := []string{"'self'"}
	if hostPattern.MatchString(host) {
		sources = append(sources, "wss://"+host)
	}
	for _, o := range extra {
		if !slices.Contains(sources, o) {
			sources = append(sources, o)
		}
	}
	connect := strings.Join(sources, " ")
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"media-src 'self' blob: mediastream:",
		"connect-src " + connect,
		"manifest-src 'self'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// cspOrigin returns endpoint reduced to the scheme://host[:port] form a
// CSP source expression takes, or ok=false when endpoint is not a bare
// origin of that scheme with a host hostPattern accepts (nothing that
// could add a directive or widen the source, such as ";", "*" or a path).
func cspOrigin(endpoint, scheme string) (string, bool) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != scheme || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		!hostPattern.MatchString(u.Host) {
		return "", false
	}
	return scheme + "://" + u.Host, true
}
