package controlplane

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

func ptr[T any](v T) *T { return &v }

// TestDecodeMatchesMemberNamesExactly: members are matched case-sensitively
// (spec 1.1); a differently cased spelling is an unknown member, ignored
// rather than taken for the real one or allowed to override it.
func TestDecodeMatchesMemberNamesExactly(t *testing.T) {
	cases := []struct {
		name string
		body string
		want kvsapi.CreateSignalingChannelInput
	}{
		{"exact names", `{"ChannelName":"a","SingleMasterConfiguration":{"MessageTtlSeconds":7},"Tags":[{"Key":"k","Value":"v"}]}`,
			kvsapi.CreateSignalingChannelInput{ChannelName: ptr("a"), SingleMasterConfiguration: &kvsapi.SingleMasterConfiguration{MessageTtlSeconds: ptr(7)},
				Tags: []kvsapi.Tag{{Key: ptr("k"), Value: ptr("v")}}}},
		{"mis-cased duplicate after", `{"ChannelName":"a","channelName":"b"}`, kvsapi.CreateSignalingChannelInput{ChannelName: ptr("a")}},
		{"only mis-cased", `{"channelname":"demo"}`, kvsapi.CreateSignalingChannelInput{}},
		{"mis-cased nested and top-level", `{"ChannelName":"a","singlemasterconfiguration":{"messagettlseconds":7},"TAGS":[{"key":"k","value":"v"}]}`,
			kvsapi.CreateSignalingChannelInput{ChannelName: ptr("a")}},
		{"mis-cased inside exact", `{"ChannelName":"a","SingleMasterConfiguration":{"messageTtlSeconds":7},"Tags":[{"key":"k","Value":"v"}]}`,
			kvsapi.CreateSignalingChannelInput{ChannelName: ptr("a"), SingleMasterConfiguration: &kvsapi.SingleMasterConfiguration{},
				Tags: []kvsapi.Tag{{Value: ptr("v")}}}},
		{"unknown members", `{"ChannelName":"a","Future":{"x":[1]},"Tags":null}`, kvsapi.CreateSignalingChannelInput{ChannelName: ptr("a")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got kvsapi.CreateSignalingChannelInput
			if err := decode([]byte(tc.body), &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tc.want)
				t.Errorf("decoded %s, want %s", g, w)
			}
		})
	}
}

// TestMisCasedMemberDoesNotOverride runs the reviewer's request through the
// API: the channel created is the one the exact member names.
func TestMisCasedMemberDoesNotOverride(t *testing.T) {
	api := newFuzzAPI(t)
	if code, body := call(api, kvsapi.PathCreateSignalingChannel, `{"ChannelName":"a","channelName":"b"}`); code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := call(api, kvsapi.PathDescribeSignalingChannel, `{"ChannelName":"a"}`); code != http.StatusOK {
		t.Errorf("describe a: %d %s", code, body)
	}
	if code, _ := call(api, kvsapi.PathDescribeSignalingChannel, `{"ChannelName":"b"}`); code != http.StatusNotFound {
		t.Errorf("describe b: %d, want 404", code)
	}
	code, body := call(api, kvsapi.PathDescribeSignalingChannel, `{"channelname":"a"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "Either ChannelName or ChannelARN is required") {
		t.Errorf("describe with a mis-cased member: %d %s, want the missing-member error", code, body)
	}
}

// call posts body to path and returns the status and reply.
func call(api *API, path, body string) (int, string) {
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

// TestTypeErrorsNameTheType: a wrong JSON type is a SerializationException
// that names the type needed, "integer" for integer members.
func TestTypeErrorsNameTheType(t *testing.T) {
	cases := []struct{ path, body, want string }{
		{kvsapi.PathCreateSignalingChannel, `{"ChannelName":"a","SingleMasterConfiguration":{"MessageTtlSeconds":60.0}}`,
			"SingleMasterConfiguration.MessageTtlSeconds must be of type integer, got a JSON number 60.0"},
		{kvsapi.PathCreateSignalingChannel, `{"ChannelName":"a","SingleMasterConfiguration":{"MessageTtlSeconds":6E1}}`,
			"SingleMasterConfiguration.MessageTtlSeconds must be of type integer, got a JSON number 6E1"},
		{kvsapi.PathCreateSignalingChannel, `{"ChannelName":"a","SingleMasterConfiguration":{"MessageTtlSeconds":"60"}}`,
			"SingleMasterConfiguration.MessageTtlSeconds must be of type integer, got a JSON string"},
		{kvsapi.PathCreateSignalingChannel, `{"ChannelName":"a","SingleMasterConfiguration":{"MessageTtlSeconds":99999999999999999999}}`,
			"SingleMasterConfiguration.MessageTtlSeconds must be of type integer, got 99999999999999999999, which is out of range"},
		{kvsapi.PathListSignalingChannels, `{"MaxResults":1.5}`, "MaxResults must be of type integer, got a JSON number 1.5"},
		{kvsapi.PathCreateSignalingChannel, `{"ChannelName":7}`, "ChannelName must be of type string, got a JSON number"},
		{kvsapi.PathCreateSignalingChannel, `{"ChannelName":"a","Tags":{"k":"v"}}`, "Tags must be of type list, got a JSON object"},
		{kvsapi.PathCreateSignalingChannel, `{"ChannelName":"a","SingleMasterConfiguration":[]}`,
			"SingleMasterConfiguration must be of type object, got a JSON array"},
	}
	api := newFuzzAPI(t)
	for _, tc := range cases {
		code, body := call(api, tc.path, tc.body)
		var reply kvsapi.ErrorBody
		_ = json.Unmarshal([]byte(body), &reply)
		if code != http.StatusBadRequest || reply.Type != kvsapi.CodeSerialization.Name || reply.Message != tc.want {
			t.Errorf("%s: %d %s\nwant 400 SerializationException %q", tc.body, code, body, tc.want)
		}
	}
}

// inputTypes maps each operation path to the type its body decodes into.
var inputTypes = map[string]reflect.Type{
	kvsapi.PathCreateSignalingChannel:            reflect.TypeFor[kvsapi.CreateSignalingChannelInput](),
	kvsapi.PathDescribeSignalingChannel:          reflect.TypeFor[kvsapi.ChannelSelector](),
	kvsapi.PathListSignalingChannels:             reflect.TypeFor[kvsapi.ListSignalingChannelsInput](),
	kvsapi.PathUpdateSignalingChannel:            reflect.TypeFor[kvsapi.UpdateSignalingChannelInput](),
	kvsapi.PathDeleteSignalingChannel:            reflect.TypeFor[kvsapi.DeleteSignalingChannelInput](),
	kvsapi.PathTagResource:                       reflect.TypeFor[kvsapi.TagResourceInput](),
	kvsapi.PathUntagResource:                     reflect.TypeFor[kvsapi.UntagResourceInput](),
	kvsapi.PathListTagsForResource:               reflect.TypeFor[kvsapi.ListTagsForResourceInput](),
	kvsapi.PathDescribeMediaStorageConfiguration: reflect.TypeFor[kvsapi.ChannelSelector](),
	kvsapi.PathUpdateMediaStorageConfiguration:   reflect.TypeFor[kvsapi.UpdateMediaStorageConfigurationInput](),
	kvsapi.PathGetSignalingChannelEndpoint:       reflect.TypeFor[kvsapi.GetSignalingChannelEndpointInput](),
	kvsapi.PathGetIceServerConfig:                reflect.TypeFor[kvsapi.GetIceServerConfigInput](),
	kvsapi.PathSendAlexaOfferToMaster:            reflect.TypeFor[kvsapi.SendAlexaOfferToMasterInput](),
}

// capturedBody is one request body a real client sent.
type capturedBody struct {
	file, path, body string
}

// capturesDir holds the module's copy of the spec's client captures.
const capturesDir = "../../sigv4/testdata/captures"

var (
	requestLine = regexp.MustCompile(`^(?:---- )?POST (/\S*) HTTP/1\.1$`)
	replyLine   = regexp.MustCompile(`^(HTTP/1\.1 |---- recorder reply|---- end of request)`)
)

// capturedBodies returns the JSON body of every recorded REST request.
func capturedBodies(t *testing.T) []capturedBody {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(capturesDir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture files in %s: %v", capturesDir, err)
	}
	var out []capturedBody
	for _, f := range files {
		out = append(out, bodiesIn(t, f)...)
	}
	return out
}

// bodiesIn scans one capture file: a JSON line after a request line and
// before the reply is that request's body.
func bodiesIn(t *testing.T, file string) []capturedBody {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capturedBody
	path := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch m := requestLine.FindStringSubmatch(line); {
		case m != nil:
			path = m[1]
		case replyLine.MatchString(line):
			path = ""
		case path != "" && strings.HasPrefix(line, "{"):
			out = append(out, capturedBody{filepath.Base(file), path, line})
			path = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCapturedRequestsDecodeExactly: every body a real client sent (AWS
// CLI, SDKs for JavaScript v3 and Go v2) uses exact member names only, so
// case-sensitive matching decodes it exactly as before and drops nothing.
func TestCapturedRequestsDecodeExactly(t *testing.T) {
	bodies := capturedBodies(t)
	if len(bodies) < 20 {
		t.Fatalf("found %d captured bodies, expected at least 20", len(bodies))
	}
	for _, c := range bodies {
		typ, ok := inputTypes[c.path]
		if !ok {
			t.Errorf("%s: no input type for %s", c.file, c.path)
			continue
		}
		strict, lenient := reflect.New(typ), reflect.New(typ)
		if err := decode([]byte(c.body), strict.Interface()); err != nil {
			t.Errorf("%s %s: decode: %v", c.file, c.path, err)
			continue
		}
		if err := json.Unmarshal([]byte(c.body), lenient.Interface()); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if !reflect.DeepEqual(strict.Interface(), lenient.Interface()) {
			t.Errorf("%s %s: %s decodes differently with exact names", c.file, c.path, c.body)
		}
		if kept, _ := exactMembers([]byte(c.body), typ); !sameJSON(kept, []byte(c.body)) {
			t.Errorf("%s %s: members dropped from %s: kept %s", c.file, c.path, c.body, kept)
		}
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestCapturedRequestsReplay sends every captured body to its operation:
// none is refused as malformed or as missing a member, and every reply is
// a success or a client error in the AWS shape.
func TestCapturedRequestsReplay(t *testing.T) {
	api := newFuzzAPI(t)
	if code, body := call(api, kvsapi.PathCreateSignalingChannel, `{"ChannelName":"demo-channel"}`); code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	for _, c := range capturedBodies(t) {
		code, body := call(api, c.path, c.body)
		var reply kvsapi.ErrorBody
		shaped := json.Unmarshal([]byte(body), &reply) == nil && (code == http.StatusOK || reply.Type != "" && reply.Message != "")
		if code >= 500 || !shaped || reply.Type == kvsapi.CodeSerialization.Name || strings.Contains(reply.Message, "required") {
			t.Errorf("%s %s %s: %d %s", c.file, c.path, c.body, code, body)
		}
	}
}
