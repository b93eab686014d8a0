package e2e

// Tests of the behaviours in spec section 9 ("Behaviours real clients
// depend on") whose wire details an SDK would hide: they speak raw HTTP
// and raw WebSocket handshakes to the real server and look at exact
// header names, member names and number tokens.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// TestEndpointsLeaveOutPort443 (item 1): an operator who writes the public
// host with port 443 still gets endpoints without a port, the only form
// the KVS C SDK can use.
func TestEndpointsLeaveOutPort443(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{"--public-host", "127.0.0.1:443"}})
	arn := createChannel(t, srv.kvs(), "port-443")
	for _, role := range []string{kvsapi.RoleMaster, kvsapi.RoleViewer} {
		body := fmt.Sprintf(`{"ChannelARN":%q,"SingleMasterChannelEndpointConfiguration":{"Protocols":["WSS","HTTPS"],"Role":%q}}`, arn, role)
		resp, raw := srv.raw(t, rawCall{path: "/getSignalingChannelEndpoint", body: body})
		if code := checkAWSReply(t, resp, raw); code != "" {
			t.Fatalf("%s: %d %s", role, resp.StatusCode, raw)
		}
		var out struct {
			ResourceEndpointList []struct{ Protocol, ResourceEndpoint string }
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range out.ResourceEndpointList {
			got[e.Protocol] = e.ResourceEndpoint
		}
		if len(got) != 2 || got["HTTPS"] != "https://127.0.0.1" || got["WSS"] != "wss://127.0.0.1" {
			t.Fatalf("%s endpoints %v, want https://127.0.0.1 and wss://127.0.0.1 (no :443)", role, got)
		}
	}
}

// TestReplyMemberNamesAndNumbers (items 3, 23 and 24): the replies the KVS
// C SDK parses carry exactly the model's member names, compared byte for
// byte as the C SDK does, integers as plain JSON integers and CreationTime
// as a JSON number of epoch seconds.
func TestReplyMemberNamesAndNumbers(t *testing.T) {
	srv := startServer(t, serverOptions{args: turnArgs()})
	before := time.Now().Add(-time.Second)
	call := func(path, body string) map[string]json.RawMessage {
		t.Helper()
		resp, raw := srv.raw(t, rawCall{path: path, body: body})
		if code := checkAWSReply(t, resp, raw); code != "" {
			t.Fatalf("%s %s: %d %s", path, body, resp.StatusCode, raw)
		}
		return members(t, raw)
	}

	created := call("/createSignalingChannel", `{"ChannelName":"members","ChannelType":"SINGLE_MASTER","SingleMasterConfiguration":{"MessageTtlSeconds":45}}`)
	wantMembers(t, "CreateSignalingChannel", created, "ChannelARN")
	var arn string
	if err := json.Unmarshal(created["ChannelARN"], &arn); err != nil || arn == "" {
		t.Fatalf("ChannelARN %s", created["ChannelARN"])
	}
	channelInfo := []string{"ChannelARN", "ChannelName", "ChannelStatus", "ChannelType", "CreationTime", "SingleMasterConfiguration", "Version"}
	checkInfo := func(op string, info map[string]json.RawMessage) {
		t.Helper()
		wantMembers(t, op+" ChannelInfo", info, channelInfo...)
		wantMembers(t, op+" SingleMasterConfiguration", members(t, info["SingleMasterConfiguration"]), "MessageTtlSeconds")
		if ttl := string(members(t, info["SingleMasterConfiguration"])["MessageTtlSeconds"]); ttl != "45" {
			t.Fatalf("%s: MessageTtlSeconds is %s, want the plain integer 45", op, ttl)
		}
		checkCreationTime(t, op, info["CreationTime"], before)
	}

	described := call("/describeSignalingChannel", `{"ChannelName":"members"}`)
	wantMembers(t, "DescribeSignalingChannel", described, "ChannelInfo")
	checkInfo("DescribeSignalingChannel", members(t, described["ChannelInfo"]))

	listed := call("/listSignalingChannels", `{}`)
	wantMembers(t, "ListSignalingChannels", listed, "ChannelInfoList")
	var list []json.RawMessage
	if err := json.Unmarshal(listed["ChannelInfoList"], &list); err != nil || len(list) != 1 {
		t.Fatalf("ChannelInfoList %s", listed["ChannelInfoList"])
	}
	checkInfo("ListSignalingChannels", members(t, list[0]))

	endpoints := call("/getSignalingChannelEndpoint", fmt.Sprintf(
		`{"ChannelARN":%q,"SingleMasterChannelEndpointConfiguration":{"Protocols":["WSS","HTTPS"],"Role":"MASTER"}}`, arn))
	wantMembers(t, "GetSignalingChannelEndpoint", endpoints, "ResourceEndpointList")
	for _, e := range elements(t, endpoints["ResourceEndpointList"]) {
		wantMembers(t, "ResourceEndpointList item", e, "Protocol", "ResourceEndpoint")
	}

	ice := call("/v1/get-ice-server-config", fmt.Sprintf(`{"ChannelARN":%q,"ClientId":"ProducerMaster","Service":"TURN"}`, arn))
	wantMembers(t, "GetIceServerConfig", ice, "IceServerList")
	for _, e := range elements(t, ice["IceServerList"]) {
		wantMembers(t, "IceServerList item", e, "Password", "Ttl", "Uris", "Username")
		if !regexp.MustCompile(`^[1-9][0-9]*$`).Match(e["Ttl"]) {
			t.Fatalf("Ttl is %s, want a plain JSON integer", e["Ttl"])
		}
	}

	storage := call("/describeMediaStorageConfiguration", fmt.Sprintf(`{"ChannelARN":%q}`, arn))
	wantMembers(t, "DescribeMediaStorageConfiguration", storage, "MediaStorageConfiguration")
	wantMembers(t, "MediaStorageConfiguration", members(t, storage["MediaStorageConfiguration"]), "Status")

	wantMembers(t, "ListTagsForResource", call("/ListTagsForResource", fmt.Sprintf(`{"ResourceARN":%q}`, arn)), "Tags")

	var version string
	_ = json.Unmarshal(members(t, described["ChannelInfo"])["Version"], &version)
	updated := call("/updateSignalingChannel", fmt.Sprintf(`{"ChannelARN":%q,"CurrentVersion":%q,"SingleMasterConfiguration":{"MessageTtlSeconds":45}}`, arn, version))
	wantMembers(t, "UpdateSignalingChannel", updated)
}

// members decodes a JSON object into its members, keyed by their exact
// spelling.
func members(t *testing.T, raw []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		t.Fatalf("%s is not a JSON object: %v", raw, err)
	}
	return m
}

// elements decodes a non-empty JSON array of objects.
func elements(t *testing.T, raw []byte) []map[string]json.RawMessage {
	t.Helper()
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		t.Fatalf("%s is not a non-empty JSON array: %v", raw, err)
	}
	out := make([]map[string]json.RawMessage, len(list))
	for i, e := range list {
		out[i] = members(t, e)
	}
	return out
}

// wantMembers fails unless m has exactly the named members.
func wantMembers(t *testing.T, what string, m map[string]json.RawMessage, names ...string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Fatalf("%s has members %q, want exactly %q", what, got, names)
	}
}

// checkCreationTime fails unless raw is a JSON number (not a string) of
// epoch seconds between since and now.
func checkCreationTime(t *testing.T, op string, raw json.RawMessage, since time.Time) {
	t.Helper()
	seconds, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || raw[0] == '"' {
		t.Fatalf("%s: CreationTime %s is not a JSON number", op, raw)
	}
	at := time.UnixMilli(int64(seconds * 1000))
	if at.Before(since) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("%s: CreationTime %s (%v) is not epoch seconds of the creation", op, raw, at)
	}
}

// TestDateOnEveryReply (item 19): every reply carries a current Date
// header, the clock KVS clients correct theirs from: successes, errors,
// preflights, unknown paths, WebSocket refusals and the 101 of an
// accepted WebSocket upgrade.
func TestDateOnEveryReply(t *testing.T) {
	srv := startServer(t, serverOptions{})
	arn := createChannel(t, srv.kvs(), "dated")
	check := func(what string, h http.Header) {
		t.Helper()
		values := h.Values("Date")
		if len(values) != 1 {
			t.Fatalf("%s: Date headers %q, want one", what, values)
		}
		date, err := http.ParseTime(values[0])
		if err != nil || time.Since(date).Abs() > 5*time.Second {
			t.Fatalf("%s: Date %q is not the current time: %v", what, values[0], err)
		}
	}

	resp, _ := srv.raw(t, rawCall{path: "/describeSignalingChannel", body: `{"ChannelName":"dated"}`})
	check("REST success", resp.Header)
	resp, _ = srv.raw(t, rawCall{path: "/describeSignalingChannel", body: `{"ChannelName":"undated"}`})
	check("REST error", resp.Header)
	req, _ := http.NewRequest(http.MethodOptions, srv.Endpoint+"/v1/get-ice-server-config", nil)
	req.Header.Set("Origin", "https://viewer.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, _ = srv.do(t, req)
	check("CORS preflight", resp.Header)
	req, _ = http.NewRequest(http.MethodGet, srv.Endpoint+"/no-such-thing", nil)
	resp, _ = srv.do(t, req)
	check("unknown path", resp.Header)

	refused := rawUpgrade(t, srv, "wss://"+srv.Addr+"/?X-Amz-ChannelARN="+url.QueryEscape(arn), nil)
	if refused.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned upgrade: %d, want 403", refused.StatusCode)
	}
	check("WebSocket refusal", refused.Header)
	accepted := rawUpgrade(t, srv, srv.presign(t, arn, "viewer-1", rootKeys, time.Now(), 299*time.Second), nil)
	if accepted.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("presigned upgrade: %d, want 101", accepted.StatusCode)
	}
	check("WebSocket 101", accepted.Header)
}

// rawUpgrade sends a WebSocket upgrade request for rawURL over TLS with
// HTTP/1.1, as the KVS C SDK's libwebsockets does, and returns the reply's
// status line and headers; the connection is closed afterwards.
func rawUpgrade(t *testing.T, srv *server, rawURL string, header http.Header) *http.Response {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.TLSConfig()
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", srv.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: u.Path, RawQuery: u.RawQuery}, Host: u.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{
			"Upgrade":               {"websocket"},
			"Connection":            {"Upgrade"},
			"Sec-WebSocket-Key":     {base64.StdEncoding.EncodeToString(key)},
			"Sec-WebSocket-Version": {"13"},
		}}
	for k, v := range header {
		req.Header[k] = v
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("read the handshake reply: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp
}

// TestUpgradeSubprotocolAndCompression (item 26): the reply to a
// libwebsockets-style upgrade echoes the "wss" subprotocol the KVS C SDK
// offers, names no subprotocol when none was offered, and declines
// permessage-deflate (no extension in the reply).
func TestUpgradeSubprotocolAndCompression(t *testing.T) {
	srv := startServer(t, serverOptions{})
	arn := createChannel(t, srv.kvs(), "subprotocol")
	offers := http.Header{
		"Sec-WebSocket-Protocol":   {"wss"},
		"Sec-WebSocket-Extensions": {"permessage-deflate; client_max_window_bits"},
	}
	resp := rawUpgrade(t, srv, srv.presign(t, arn, "", rootKeys, time.Now(), 299*time.Second), offers)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade offering wss and deflate: %d", resp.StatusCode)
	}
	if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != "wss" {
		t.Fatalf("Sec-WebSocket-Protocol %q, want wss echoed", got)
	}
	if got := resp.Header.Values("Sec-WebSocket-Extensions"); len(got) != 0 {
		t.Fatalf("Sec-WebSocket-Extensions %q: compression must be declined", got)
	}

	resp = rawUpgrade(t, srv, srv.presign(t, arn, "viewer-1", rootKeys, time.Now(), 299*time.Second), nil)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("plain upgrade: %d", resp.StatusCode)
	}
	if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 0 {
		t.Fatalf("Sec-WebSocket-Protocol %q in the reply to an upgrade that offered none", got)
	}
}

// TestWebSocketAcceptsUnknownQueryParameters (item 30): parameters the
// server does not know (the C SDK defines X-Amz-Role and X-Amz-ChannelName,
// and later clients may add more) are signed like the others and do not
// stop a connection; unknown members of a message are not forwarded.
func TestWebSocketAcceptsUnknownQueryParameters(t *testing.T) {
	srv := startServer(t, serverOptions{})
	arn := createChannel(t, srv.kvs(), "unknown-params")
	ctx := testContext(t)
	dial := func(clientID string, extra url.Values) *websocket.Conn {
		t.Helper()
		q := url.Values{kvsapi.QueryChannelARN: {arn}}
		if clientID != "" {
			q.Set(kvsapi.QueryClientID, clientID)
		}
		for k, v := range extra {
			q[k] = v
		}
		u := &url.URL{Scheme: "wss", Host: srv.Addr, Path: "/", RawQuery: q.Encode()}
		signed, err := sigv4.PresignURL(u, rootKeys, testRegion, "kinesisvideo", time.Now(), 299*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c, resp, err := srv.dialWS(ctx, signed.String())
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("connect %q with parameters %v: status %d: %v", clientID, extra, status, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	master := dial("", url.Values{"X-Amz-Role": {"MASTER"}, "X-Amz-ChannelName": {"unknown-params"}})
	viewer := dial("viewer-1", url.Values{"X-Amz-Role": {"VIEWER"}, "X-Future-Option": {"on"}})

	offer := `{"action":"SDP_OFFER","messagePayload":"eyJ0eXBlIjoib2ZmZXIifQ==","futureMember":{"nested":[1,2]},"IceServerList":[]}`
	if err := viewer.Write(ctx, websocket.MessageText, []byte(offer)); err != nil {
		t.Fatal(err)
	}
	readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, frame, err := master.Read(readCtx)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"senderClientId":"viewer-1","messageType":"SDP_OFFER","messagePayload":"eyJ0eXBlIjoib2ZmZXIifQ=="}`
	if !bytes.Equal(frame, []byte(want)) {
		t.Fatalf("master got %s, want %s", frame, want)
	}
}

// TestHeaderSignedAsTheKVSCSDKSigns (item 18): the server checks exactly
// the headers SignedHeaders lists. A request that signs only host and
// x-amz-date, and sends Content-Type and User-Agent unsigned (the KVS C
// SDK leaves content-type out), is accepted whatever those carry; a
// change to a signed header is not.
func TestHeaderSignedAsTheKVSCSDKSigns(t *testing.T) {
	srv := startServer(t, serverOptions{})
	send := func(path, body string, afterSigning func(*http.Request)) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.Endpoint+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Del("Content-Type") // so that SignRequest leaves it out
		if err := sigv4.SignRequest(req, []byte(body), rootKeys, testRegion, "kinesisvideo", time.Now()); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders=host;x-amz-date,") {
			t.Fatalf("signed %q, want host and x-amz-date only", req.Header.Get("Authorization"))
		}
		afterSigning(req)
		return srv.do(t, req)
	}
	create := `{"ChannelName":"c-sdk","ChannelType":"SINGLE_MASTER","SingleMasterConfiguration":{"MessageTtlSeconds":60}}`
	resp, body := send("/createSignalingChannel", create, func(r *http.Request) {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("User-Agent", "AWS-WEBRTC-KVS-AGENT/1.10.2 GCC/11.4.0 Linux/5.15.0 x86_64")
	})
	if code := checkAWSReply(t, resp, body); code != "" {
		t.Fatalf("create signed as the C SDK signs: %d %s", resp.StatusCode, body)
	}
	resp, body = send("/describeSignalingChannel", `{"ChannelName":"c-sdk"}`, func(r *http.Request) {
		r.Header.Set("Content-Type", "text/plain") // unsigned, so anything goes
	})
	if code := checkAWSReply(t, resp, body); code != "" {
		t.Fatalf("describe with an unsigned, unusual Content-Type: %d %s", resp.StatusCode, body)
	}
	resp, body = send("/describeSignalingChannel", `{"ChannelName":"c-sdk"}`, func(r *http.Request) {
		r.Host = strings.Replace(srv.Addr, "127.0.0.1", "localhost", 1) // host is signed
	})
	if code := checkAWSReply(t, resp, body); code != "InvalidSignatureException" {
		t.Fatalf("a changed signed header was accepted: %d %s", resp.StatusCode, body)
	}
}
