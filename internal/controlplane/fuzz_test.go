package controlplane

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// fixedCaller authenticates every request as one principal, so that the
// fuzzer spends its time in decoding and validation rather than SigV4
// (which has fuzz targets of its own).
type fixedCaller struct{}

func (fixedCaller) Authenticate(*http.Request, []byte) (auth.Principal, error) {
	return auth.Principal{Account: "111122223333", AccessKeyID: "AKIAFUZZ"}, nil
}

func newFuzzAPI(t testing.TB) *API {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "fuzz.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api, err := New(Options{
		Channels:     channel.NewService(channel.Options{Store: st, Region: "us-west-2", Config: channel.Config{MaxPerAccount: 50}}),
		Auth:         fixedCaller{},
		Endpoints:    Endpoints{HTTPS: "https://localhost", WSS: "wss://localhost"},
		IceServers:   stunFixture{},
		MaxBodyBytes: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// FuzzOperations sends arbitrary bodies to every operation. Whatever the
// input, the reply is a success or a client error in the AWS shape: never a
// panic and never a 500.
func FuzzOperations(f *testing.F) {
	api := newFuzzAPI(f)
	paths := make([]string, 0, len(api.operations))
	for p := range api.operations {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	seeds := []string{
		`{}`, ``, `{"ChannelName":"demo"}`, `{"ChannelName":"demo","SingleMasterConfiguration":{"MessageTtlSeconds":60},"Tags":[{"Key":"a","Value":"b"}]}`,
		`{"ChannelARN":"arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo/1700000000000","CurrentVersion":"abc"}`,
		`{"MaxResults":7,"NextToken":"c2IxfHxkZW1v","ChannelNameCondition":{"ComparisonOperator":"BEGINS_WITH","ComparisonValue":"d"}}`,
		`{"ResourceARN":"arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo/1","TagKeyList":["a",null]}`,
		`{"ChannelARN":"x","SingleMasterChannelEndpointConfiguration":{"Protocols":["WSS","HTTPS","WEBRTC"],"Role":"VIEWER"}}`,
		`{"ChannelARN":"x","MediaStorageConfiguration":{"Status":"ENABLED"}}`, `{"Tags":[{}]}`, `[1]`, `"s"`, `{"MaxResults":1e400}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := paths[int(which)%len(paths)]
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		if rec.Code == http.StatusOK {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: 200 with invalid JSON %q", path, rec.Body.String())
			}
			return
		}
		var shape kvsapi.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &shape); err != nil || shape.Type == "" {
			t.Fatalf("%s %q: error reply %q is not in the AWS shape", path, body, rec.Body.String())
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %q: server error %d %s", path, body, rec.Code, rec.Body.String())
		}
	})
}
