package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// fakeAPI is a control plane that verifies every request's signature and
// answers from a table of canned replies keyed by path.
type fakeAPI struct {
	t       *testing.T
	mu      sync.Mutex
	calls   []string           // "path body"
	replies map[string][]reply // consumed in order; the last one repeats
}

type reply struct {
	status int
	body   string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if _, err := testVerifier().VerifyRequest(r, body); err != nil {
		f.t.Errorf("%s: signature: %v", r.URL.Path, err)
	}
	if r.Method != http.MethodPost || r.ContentLength != int64(len(body)) || r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("%s: method %s, Content-Length %d for %d bytes, type %q", r.URL.Path, r.Method, r.ContentLength, len(body), r.Header.Get("Content-Type"))
	}
	f.mu.Lock()
	f.calls = append(f.calls, r.URL.Path+" "+string(body))
	queue := f.replies[r.URL.Path]
	rep := reply{404, `{"__type":"UnknownOperationException","Message":"no"}`}
	if len(queue) > 0 {
		rep = queue[0]
		if len(queue) > 1 {
			f.replies[r.URL.Path] = queue[1:]
		}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", "req-1")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func newFakeAPI(t *testing.T, replies map[string][]reply) (*Client, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{t: t, replies: replies}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{Endpoint: srv.URL + "/", Region: "us-west-2", Credentials: testCreds, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

const (
	notFoundReply = `{"__type":"ResourceNotFoundException","Message":"The requested channel is not found or not active."}`
	describeReply = `{"ChannelInfo":{"ChannelName":"demo","ChannelARN":"` + testARN + `","ChannelType":"SINGLE_MASTER",` +
		`"ChannelStatus":"ACTIVE","CreationTime":1.7E9,"SingleMasterConfiguration":{"MessageTtlSeconds":60},"Version":"v1"}}`
)

func TestEnsureChannelCreatesOnNotFound(t *testing.T) {
	c, f := newFakeAPI(t, map[string][]reply{
		kvsapi.PathDescribeSignalingChannel: {{404, notFoundReply}, {200, describeReply}},
		kvsapi.PathCreateSignalingChannel:   {{200, `{"ChannelARN":"` + testARN + `"}`}},
	})
	info, err := c.EnsureChannel(context.Background(), "demo")
	if err != nil || info.ChannelARN != testARN || info.ChannelStatus != kvsapi.ChannelStatusActive {
		t.Fatalf("ensure: %+v %v", info, err)
	}
	want := []string{
		`/describeSignalingChannel {"ChannelName":"demo"}`,
		`/createSignalingChannel {"ChannelName":"demo"}`,
		`/describeSignalingChannel {"ChannelName":"demo"}`,
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestDescribeByARNAndErrors(t *testing.T) {
	c, f := newFakeAPI(t, map[string][]reply{
		kvsapi.PathDescribeSignalingChannel: {{404, notFoundReply}},
	})
	_, err := c.DescribeSignalingChannel(context.Background(), testARN)
	if !IsNotFound(err) || !strings.Contains(err.Error(), "DescribeSignalingChannel") || !strings.Contains(err.Error(), "req-1") {
		t.Fatalf("got %v", err)
	}
	if want := `/describeSignalingChannel {"ChannelARN":"` + testARN + `"}`; f.calls[0] != want {
		t.Fatalf("request %s, want %s", f.calls[0], want)
	}
}

func TestEndpointsAndIceServers(t *testing.T) {
	c, f := newFakeAPI(t, map[string][]reply{
		kvsapi.PathGetSignalingChannelEndpoint: {
			{200, `{"ResourceEndpointList":[{"Protocol":"WSS","ResourceEndpoint":"wss://m.example"},{"Protocol":"HTTPS","ResourceEndpoint":"https://r.example"}]}`},
			{200, `{"ResourceEndpointList":[{"Protocol":"WSS","ResourceEndpoint":"wss://m.example"}]}`},
		},
		"/prefix" + kvsapi.PathGetIceServerConfig: {{200, `{"IceServerList":[{"Uris":["turn:a:443?transport=udp"],"Username":"u","Password":"p","Ttl":300}]}`}},
	})
	eps, err := c.GetSignalingChannelEndpoint(context.Background(), testARN, kvsapi.RoleMaster)
	if err != nil || eps.WSS != "wss://m.example" || eps.HTTPS != "https://r.example" {
		t.Fatalf("endpoints %+v %v", eps, err)
	}
	wantReq := `{"ChannelARN":"` + testARN + `","SingleMasterChannelEndpointConfiguration":{"Protocols":["WSS","HTTPS"],"Role":"MASTER"}}`
	if f.calls[0] != kvsapi.PathGetSignalingChannelEndpoint+" "+wantReq {
		t.Fatalf("request %s", f.calls[0])
	}
	if _, err := c.GetSignalingChannelEndpoint(context.Background(), testARN, kvsapi.RoleMaster); err == nil {
		t.Fatal("a reply without HTTPS was accepted")
	}
	servers, err := c.GetIceServerConfig(context.Background(), c.endpoint+"/prefix/", testARN, "viewer-1")
	if err != nil || len(servers) != 1 || servers[0].Ttl != 300 {
		t.Fatalf("ice servers %+v %v", servers, err)
	}
	if want := `{"ChannelARN":"` + testARN + `","ClientId":"viewer-1","Service":"TURN"}`; !strings.HasSuffix(f.calls[2], " "+want) {
		t.Fatalf("request %s", f.calls[2])
	}
}

func TestListAllFollowsPages(t *testing.T) {
	page := func(names []string, next string) reply {
		var infos []kvsapi.ChannelInfo
		for _, n := range names {
			infos = append(infos, kvsapi.ChannelInfo{ChannelName: n})
		}
		b, _ := json.Marshal(kvsapi.ListSignalingChannelsOutput{ChannelInfoList: infos, NextToken: next})
		return reply{200, string(b)}
	}
	c, f := newFakeAPI(t, map[string][]reply{
		kvsapi.PathListSignalingChannels: {page([]string{"cam-1", "cam-2"}, "dDE="), page([]string{"cam-3"}, "")},
	})
	all, err := c.ListAllSignalingChannels(context.Background(), "cam")
	if err != nil || len(all) != 3 || all[2].ChannelName != "cam-3" {
		t.Fatalf("list: %+v %v", all, err)
	}
	want := []string{
		`/listSignalingChannels {"ChannelNameCondition":{"ComparisonOperator":"BEGINS_WITH","ComparisonValue":"cam"}}`,
		`/listSignalingChannels {"NextToken":"dDE=","ChannelNameCondition":{"ComparisonOperator":"BEGINS_WITH","ComparisonValue":"cam"}}`,
	}
	if fmt.Sprint(f.calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v", f.calls)
	}
}

func TestDeleteSendsVersionOnlyWhenGiven(t *testing.T) {
	c, f := newFakeAPI(t, map[string][]reply{kvsapi.PathDeleteSignalingChannel: {{200, `{}`}}})
	if err := c.DeleteSignalingChannel(context.Background(), testARN, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSignalingChannel(context.Background(), testARN, "v1"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(f.calls[0], `{"ChannelARN":"`+testARN+`"}`) || !strings.HasSuffix(f.calls[1], `"CurrentVersion":"v1"}`) {
		t.Fatalf("calls %v", f.calls)
	}
}
