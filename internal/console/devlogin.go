package console

import (
	"net"
	"net/http"
	"strings"

	"github.com/switchboard-rtc/switchboard/internal/httpx"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// pageConfig is /console/config.json: what a page needs before it can sign.
type pageConfig struct {
	// Region goes into every credential scope the page signs with.
	Region string `json:"region"`
	// DevLogin says whether this browser is offered one-click sign-in.
	DevLogin bool `json:"devLogin"`
}

// devCredentials is the /console/dev-credentials reply.
type devCredentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	Region          string `json:"region"`
}

// codeForbidden is the catalog's AccessDeniedException with status 403
// (the status AWS uses when a request is refused outright).
var codeForbidden = kvsapi.CodeAccessDeniedWebSocket

func (c *Console) serveConfig(w http.ResponseWriter, r *http.Request) {
	_, _, refusal := c.devLogin(r)
	w.Header().Set("Cache-Control", "no-store") // the answer depends on the client address
	_ = httpx.WriteJSON(w, http.StatusOK, pageConfig{Region: c.deps.Region, DevLogin: refusal == ""})
}

// serveDevCredentials hands the generated development keys to the
// console's own page on a development server, under the DevLogin rule.
// It is a convenience for signing in, not a way around signing: the page
// signs every later request with these keys like any SDK would.
func (c *Console) serveDevCredentials(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, secret, refusal := c.devLogin(r)
	if refusal == "" {
		refusal = crossOriginRefusal(r)
	}
	if refusal != "" {
		httpx.WriteError(w, r, kvsapi.Errorf(codeForbidden, "%s", refusal))
		return
	}
	c.log.Info("development keys handed to the console", "remote", r.RemoteAddr)
	_ = httpx.WriteJSON(w, http.StatusOK, devCredentials{AccessKeyID: id, SecretAccessKey: secret, Region: c.deps.Region})
}

// devLogin applies the DevLogin rule to r. It returns the keys, or a
// sentence saying why they are not offered.
func (c *Console) devLogin(r *http.Request) (id, secret, refusal string) {
	if c.cfg.DevLogin == DevLoginOff {
		return "", "", "One-click sign-in is turned off on this server (console.dev_login: off). Sign in with an access key and secret."
	}
	var ok bool
	if c.deps.DevCredentials != nil {
		id, secret, ok = c.deps.DevCredentials()
	}
	if !ok {
		return "", "", "This server uses configured keys, so it offers no one-click sign-in. Sign in with an access key and secret."
	}
	if c.cfg.DevLogin == DevLoginAuto && !(isLoopbackAddr(r.RemoteAddr) && isLoopbackHost(r.Host)) {
		return "", "", "One-click sign-in is offered only to a browser on the server's own machine, at a loopback address such as https://localhost. " +
			"Sign in with an access key and secret (the server prints them at start), or set console.dev_login: on."
	}
	return id, secret, ""
}

// crossOriginRefusal refuses requests that a page of another origin made:
// the browser names the requesting page in Origin and Sec-Fetch-Site.
func crossOriginRefusal(r *http.Request) string {
	const refusal = "The development keys are given only to the console's own pages."
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return refusal
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		scheme := "https://"
		if r.TLS == nil {
			scheme = "http://"
		}
		if !strings.EqualFold(origin, scheme+r.Host) {
			return refusal
		}
	}
	return ""
}

// isLoopbackAddr reports whether a RemoteAddr (ip:port) is a loopback
// address, IPv4-mapped IPv6 included.
func isLoopbackAddr(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackHost reports whether a Host header names this machine through
// loopback: localhost or a loopback IP. A page reached under any other name
// (DNS rebinding included) is not offered the keys.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
