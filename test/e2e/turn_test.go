package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/proxy"

	"github.com/switchboard-rtc/switchboard/internal/ice/icetest"
)

// turnArgs start the embedded STUN/TURN server on loopback ports chosen by
// the system; GetIceServerConfig's URIs carry the real ports.
func turnArgs(extra ...string) []string {
	return append([]string{
		"--turn-udp-addr=127.0.0.1:0", "--turn-tcp-addr=127.0.0.1:0", "--turn-tls-addr=127.0.0.1:0",
		"--relay-ip=127.0.0.1",
	}, extra...)
}

// iceServer is one IceServerList entry as the wire has it.
type iceServer struct {
	Uris     []string
	Username string
	Password string
	Ttl      json.Number //nolint:revive // wire name
}

// iceCall calls GetIceServerConfig signed by the AWS SDK's signer with the
// given keys (service kinesisvideo, spec 5).
func (s *server) iceCall(t *testing.T, accessKey, secret, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Endpoint+"/v1/get-ice-server-config", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "kinesisvideo", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return s.do(t, req)
}

// iceServers fetches a channel's ICE servers as the KVS C SDK asks for them.
func (s *server) iceServers(t *testing.T, arn, clientID string) []iceServer {
	t.Helper()
	body := fmt.Sprintf(`{"ChannelARN":%q,"ClientId":%q,"Service":"TURN"}`, arn, clientID)
	resp, raw := s.iceCall(t, testAccessKey, testSecret, body)
	if code := checkAWSReply(t, resp, raw); code != "" {
		t.Fatalf("GetIceServerConfig: %d %s: %s", resp.StatusCode, code, raw)
	}
	var out struct{ IceServerList []iceServer }
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return out.IceServerList
}

// TestGetIceServerConfigOverHTTP checks the reply shapes KVS clients
// depend on (spec 5.1.2, 9 items 6, 7 and 24) and the error replies,
// through a real HTTP client with SigV4.
func TestGetIceServerConfigOverHTTP(t *testing.T) {
	srv := startServer(t, serverOptions{args: append(turnArgs("--turn-on-https-port=true"), "--config", writeAccountsConfig(t))})
	arn := createChannel(t, srv.kvs(), "ice-shapes")
	_, httpsPort, _ := net.SplitHostPort(srv.Addr)

	for _, body := range []string{
		fmt.Sprintf(`{"ChannelARN":%q,"ClientId":"ProducerMaster","Service":"TURN"}`, arn), // C SDK
		fmt.Sprintf(`{"ChannelARN":%q}`, arn),                                              // JS samples
	} {
		resp, raw := srv.iceCall(t, testAccessKey, testSecret, body)
		if code := checkAWSReply(t, resp, raw); code != "" {
			t.Fatalf("%s: %d %s %s", body, resp.StatusCode, code, raw)
		}
		checkIceShape(t, raw, httpsPort)
	}

	errorCases := []struct {
		name, key, secret, body, code string
		status                        int
	}{
		{"unknown channel", testAccessKey, testSecret, `{"ChannelARN":"` + strings.Replace(arn, "ice-shapes", "nope", 1) + `"}`, "ResourceNotFoundException", 404},
		{"channel of another account", otherAccessKey, otherSecret, `{"ChannelARN":"` + arn + `"}`, "ResourceNotFoundException", 404},
		{"bad client id", testAccessKey, testSecret, `{"ChannelARN":"` + arn + `","ClientId":"bad id!"}`, "InvalidArgumentException", 400},
		{"service other than TURN", testAccessKey, testSecret, `{"ChannelARN":"` + arn + `","Service":"STUN"}`, "InvalidArgumentException", 400},
		{"no channel", testAccessKey, testSecret, `{}`, "InvalidArgumentException", 400},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := srv.iceCall(t, tc.key, tc.secret, tc.body)
			if code := checkAWSReply(t, resp, raw); code != tc.code || resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d %s: %s", resp.StatusCode, code, tc.status, tc.code, raw)
			}
		})
	}
	t.Run("per-channel rate limit", func(t *testing.T) {
		throttled := 0
		for range 30 {
			resp, raw := srv.iceCall(t, testAccessKey, testSecret, `{"ChannelARN":"`+arn+`"}`)
			if code := checkAWSReply(t, resp, raw); code == "ClientLimitExceededException" && resp.StatusCode == 400 {
				throttled++
			} else if code != "" {
				t.Fatalf("%d %s: %s", resp.StatusCode, code, raw)
			}
		}
		if throttled == 0 {
			t.Fatal("30 calls in a row on one channel were never throttled")
		}
	})
}

// checkIceShape asserts the limits of KVS clients on a reply body.
func checkIceShape(t *testing.T, raw []byte, httpsPort string) {
	t.Helper()
	var out struct{ IceServerList []map[string]json.RawMessage }
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	list := out.IceServerList
	if len(list) < 1 || len(list) > 5 {
		t.Fatalf("%d entries: %s", len(list), raw)
	}
	for i, e := range list {
		var uris []string
		var user, pass string
		_ = json.Unmarshal(e["Uris"], &uris)
		_ = json.Unmarshal(e["Username"], &user)
		_ = json.Unmarshal(e["Password"], &pass)
		ttl, err := strconv.Atoi(string(e["Ttl"]))
		if err != nil || ttl <= 30 {
			t.Fatalf("entry %d: Ttl %s is not an integer above 30", i, e["Ttl"])
		}
		if len(uris) < 1 || len(uris) > 4 || user == "" || len(user) > 256 || pass == "" || len(pass) > 256 || strings.Count(user, ":") != 1 {
			t.Fatalf("entry %d: %s", i, raw)
		}
		for _, u := range uris {
			scheme, _, transport := splitURI(t, u)
			if scheme != "turn" && scheme != "turns" && scheme != "stun" || scheme == "turns" && transport == "udp" || len(u) > 256 {
				t.Fatalf("entry %d: URI %q", i, u)
			}
		}
	}
	var first []string
	_ = json.Unmarshal(list[0]["Uris"], &first)
	want := map[string]bool{"turn/udp": false, "turn/tcp": false, "turns/tcp": false, "turns/tcp:" + httpsPort: false}
	for _, u := range first {
		scheme, hostport, transport := splitURI(t, u)
		_, port, _ := net.SplitHostPort(hostport)
		want[scheme+"/"+transport] = true
		if port == httpsPort {
			want[scheme+"/"+transport+":"+port] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Fatalf("entry 0 lacks %s: %v", k, first)
		}
	}
}

// splitURI splits "turn:host:port?transport=udp".
func splitURI(t *testing.T, uri string) (scheme, hostport, transport string) {
	t.Helper()
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok {
		t.Fatalf("URI %q", uri)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	values, _ := url.ParseQuery(query)
	transport = values.Get("transport")
	if transport == "" {
		transport = "udp"
	}
	return scheme, hostport, transport
}

// turnURI finds the entry-0 URI of a scheme and transport (and port, when
// port is not empty).
func turnURI(t *testing.T, servers []iceServer, scheme, transport, port string) string {
	t.Helper()
	for _, u := range servers[0].Uris {
		s, hostport, tr := splitURI(t, u)
		_, p, _ := net.SplitHostPort(hostport)
		if s == scheme && tr == transport && (port == "" || p == port) {
			return hostport
		}
	}
	t.Fatalf("no %s %s URI in %v", scheme, transport, servers[0].Uris)
	return ""
}

// turnClient is a pion TURN client over "udp", "tcp" or "tls".
func turnClient(t *testing.T, network, server, user, pass string, roots *tls.Config) *turn.Client {
	t.Helper()
	return icetest.TURNClient(t, network, server, roots, user, pass, nil)
}

// echoPeer is a loopback UDP echo server.
func echoPeer(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = conn.WriteToUDP(buf[:n], from)
		}
	}()
	return conn
}

// relayEcho sends through an allocation to the echo peer and waits for the
// echo; it reports whether it came back.
func relayEcho(t *testing.T, relay net.PacketConn, peer net.Addr, msg string) bool {
	t.Helper()
	if _, err := relay.WriteTo([]byte(msg), peer); err != nil {
		return false
	}
	buf := make([]byte, 1500)
	_ = relay.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := relay.ReadFrom(buf)
	return err == nil && string(buf[:n]) == msg
}

// TestTURNWithMintedCredentials uses GetIceServerConfig's credentials with
// pion's TURN client over each client transport, and presents tampered
// and foreign credentials, which are refused.
func TestTURNWithMintedCredentials(t *testing.T) {
	srv := startServer(t, serverOptions{args: turnArgs("--turn-on-https-port=true", "--turn-allow-peer=127.0.0.0/8")})
	kvs := srv.kvs()
	arn := createChannel(t, kvs, "turn-creds")
	otherARN := createChannel(t, kvs, "turn-creds-other")
	servers := srv.iceServers(t, arn, "viewer-1")
	user, pass := servers[0].Username, servers[0].Password
	_, httpsPort, _ := net.SplitHostPort(srv.Addr)
	peer := echoPeer(t)

	for _, tc := range []struct{ name, network, addr string }{
		{"udp", "udp", turnURI(t, servers, "turn", "udp", "")},
		{"tcp", "tcp", turnURI(t, servers, "turn", "tcp", "")},
		{"tls", "tls", turnURI(t, servers, "turns", "tcp", "")},
		{"https port", "tls", turnURI(t, servers, "turns", "tcp", httpsPort)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay, err := turnClient(t, tc.network, tc.addr, user, pass, srv.TLSConfig()).Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			if !relayEcho(t, relay, peer.LocalAddr(), "hello via "+tc.name) {
				t.Fatal("no echo through the relay")
			}
		})
	}
	udp := turnURI(t, servers, "turn", "udp", "")
	foreign := srv.iceServers(t, otherARN, "viewer-1")[0].Username
	tampered := []byte(pass)
	tampered[1] ^= 0x01
	for _, tc := range []struct{ name, user, pass string }{
		{"tampered password", user, string(tampered)},
		{"credential for another channel", foreign, pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := turnClient(t, "udp", udp, tc.user, tc.pass, nil).Allocate(); err == nil {
				t.Fatal("allocation accepted")
			}
		})
	}
	metrics := srv.metricsText(t)
	if metricValue(metrics, `switchboard_turn_credential_failures_total{reason="bad_password"}`) < 2 {
		t.Fatalf("credential failures not counted:\n%s", grepMetrics(metrics, "switchboard_turn_"))
	}
}

// TestTURNDefaultPolicyRefusesInternalPeers asks the relay, with the
// default policy, for peers on loopback, private and metadata addresses
// over UDP and TCP: every permission is refused and no byte is relayed.
func TestTURNDefaultPolicyRefusesInternalPeers(t *testing.T) {
	srv := startServer(t, serverOptions{args: turnArgs()})
	arn := createChannel(t, srv.kvs(), "turn-policy")
	servers := srv.iceServers(t, arn, "probe")
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			client := turnClient(t, network, turnURI(t, servers, "turn", network, ""), servers[0].Username, servers[0].Password, nil)
			relay, err := client.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			for _, peer := range []string{"127.0.0.1:9", "10.0.0.1:9", "169.254.169.254:80", "[::ffff:127.0.0.1]:9"} {
				addr, _ := net.ResolveUDPAddr("udp", peer)
				if err := client.CreatePermission(addr); err == nil {
					t.Errorf("permission for %s granted", peer)
				}
			}
		})
	}
	metrics := srv.metricsText(t)
	for _, reason := range []string{"peer_loopback", "peer_private", "peer_metadata"} {
		if metricValue(metrics, `switchboard_turn_refusals_total{reason="`+reason+`"}`) < 2 {
			t.Errorf("%s refusals not counted over UDP and TCP", reason)
		}
	}
	if sent := metricSum(metrics, "switchboard_turn_relayed_bytes_total", `direction="to_peer"`); sent != 0 {
		t.Fatalf("%v bytes relayed", sent)
	}
}

// TestTURNCredentialExpiry mints a credential with the shortest TTL the
// configuration allows (31 s): relaying works, stops when it expires, and
// the credential is refused afterwards.
func TestTURNCredentialExpiry(t *testing.T) {
	srv := startServer(t, serverOptions{args: turnArgs("--turn-allow-peer=127.0.0.0/8", "--turn-credential-ttl=31s")})
	arn := createChannel(t, srv.kvs(), "turn-expiry")
	servers := srv.iceServers(t, arn, "short")
	if servers[0].Ttl.String() != "31" {
		t.Fatalf("Ttl %s, want 31", servers[0].Ttl)
	}
	udp := turnURI(t, servers, "turn", "udp", "")
	expiry, _ := strconv.ParseInt(strings.SplitN(servers[0].Username, ":", 2)[0], 10, 64)
	peer := echoPeer(t)
	relay, err := turnClient(t, "udp", udp, servers[0].Username, servers[0].Password, nil).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if !relayEcho(t, relay, peer.LocalAddr(), "before expiry") {
		t.Fatal("no echo before expiry")
	}
	time.Sleep(time.Until(time.Unix(expiry, 0).Add(1500 * time.Millisecond)))
	if relayEcho(t, relay, peer.LocalAddr(), "after expiry") {
		t.Fatal("relayed after the credential expired")
	}
	if _, err := turnClient(t, "udp", udp, servers[0].Username, servers[0].Password, nil).Allocate(); err == nil {
		t.Fatal("expired credential accepted")
	}
	metrics := srv.metricsText(t)
	if metricValue(metrics, "switchboard_turn_allocation_expiries_total") < 1 ||
		metricValue(metrics, `switchboard_turn_credential_failures_total{reason="expired"}`) < 1 {
		t.Fatalf("expiry not counted:\n%s", grepMetrics(metrics, "switchboard_turn_"))
	}
}

// TestWebRTCPeersThroughEmbeddedTURN gives two pion/webrtc peers the ICE
// servers GetIceServerConfig returned (SigV4 over HTTPS) and has them
// connect with the relay-only policy and exchange 1 MB, once through each
// TURN URI of entry 0: UDP, TCP, TLS and the shared HTTPS port.
func TestWebRTCPeersThroughEmbeddedTURN(t *testing.T) {
	srv := startServer(t, serverOptions{args: turnArgs("--turn-on-https-port=true", "--turn-allow-peer=127.0.0.0/8")})
	arn := createChannel(t, srv.kvs(), "turn-webrtc")
	offerer, answerer := srv.iceServers(t, arn, "master"), srv.iceServers(t, arn, "viewer")
	roots := srv.TLSConfig().RootCAs
	uris := 0
	for i, uri := range offerer[0].Uris {
		if !strings.HasPrefix(uri, "turn") {
			continue
		}
		uris++
		t.Run(uri, func(t *testing.T) {
			var dialer proxy.Dialer
			if strings.HasPrefix(uri, "turns:") {
				dialer = icetest.TLSDialer(roots)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := icetest.RelayExchange(ctx,
				icetest.Peer{ICEServers: oneTURNURI(offerer[0], uri), Dialer: dialer},
				icetest.Peer{ICEServers: oneTURNURI(answerer[0], answerer[0].Uris[i]), Dialer: dialer},
				1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.OffererCandidate.Typ != webrtc.ICECandidateTypeRelay || res.AnswererCandidate.Typ != webrtc.ICECandidateTypeRelay {
				t.Fatalf("selected candidates %s and %s, want relay on both sides", res.OffererCandidate.Typ, res.AnswererCandidate.Typ)
			}
			t.Logf("%s: %d bytes intact in %s", uri, res.Bytes, res.Elapsed.Round(time.Millisecond))
		})
	}
	if uris != 4 {
		t.Fatalf("entry 0 has %d TURN URIs, want 4 (UDP, TCP, TLS, HTTPS port): %v", uris, offerer[0].Uris)
	}
}

func oneTURNURI(s iceServer, uri string) []webrtc.ICEServer {
	return []webrtc.ICEServer{{URLs: []string{uri}, Username: s.Username, Credential: s.Password}}
}

// metricsText fetches /metrics.
func (s *server) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := s.HTTPClient().Get(s.Endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// metricValue returns the value of the series written exactly as name
// (with its labels), or -1.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// metricSum adds the series of a metric whose labels contain label.
func metricSum(text, metric, label string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, metric+"{") && strings.Contains(line, label) {
			fields := strings.Fields(line)
			f, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
			sum += f
		}
	}
	return sum
}

func grepMetrics(text, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestRevokeTURNKeys answers a leaked key: with the server stopped,
// `switchboard revoke-turn-keys` deletes the keys, and after the restart
// a credential minted before is refused while a fresh one works. With
// the server running, the command refuses and says to stop it first.
func TestRevokeTURNKeys(t *testing.T) {
	srv := startServer(t, serverOptions{args: turnArgs()})
	arn := createChannel(t, srv.kvs(), "revoke-keys")
	old := srv.iceServers(t, arn, "viewer-1")[0]
	allocate := func(user, pass string) error {
		udp := turnURI(t, srv.iceServers(t, arn, "viewer-2"), "turn", "udp", "")
		relay, err := turnClient(t, "udp", udp, user, pass, nil).Allocate()
		if err == nil {
			relay.Close()
		}
		return err
	}
	if err := allocate(old.Username, old.Password); err != nil {
		t.Fatalf("the credential before the revocation: %v", err)
	}
	revoke := func() (string, error) {
		out, err := exec.Command(binary, "revoke-turn-keys", "--data-dir", srv.dataDir).CombinedOutput()
		return string(out), err
	}
	if out, err := revoke(); err == nil || !strings.Contains(out, "stop the server first") {
		t.Fatalf("revoke-turn-keys with the server running: %v\n%s", err, out)
	}

	srv.stop()
	if out, err := revoke(); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke-turn-keys with the server stopped: %v\n%s", err, out)
	}
	srv.restart()
	if err := allocate(old.Username, old.Password); err == nil {
		t.Fatal("a credential minted before the revocation still allocates")
	}
	fresh := srv.iceServers(t, arn, "viewer-1")[0]
	if err := allocate(fresh.Username, fresh.Password); err != nil {
		t.Fatalf("a credential minted after the revocation: %v", err)
	}
}
