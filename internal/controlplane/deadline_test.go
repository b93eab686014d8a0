package controlplane

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// patientRelay answers an Alexa offer after a delay, unless the request's
// context ends first.
type patientRelay struct{ delay time.Duration }

func (r patientRelay) SendAlexaOffer(ctx context.Context, _, _, _, _ string) (string, error) {
	select {
	case <-time.After(r.delay):
		return "YW5zd2Vy", nil
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// TestBodyDeadlineEndsWithTheBody: the read deadline bounds the body only.
// SendAlexaOfferToMaster legitimately waits for the master much longer
// than the deadline, and must still get its answer through.
func TestBodyDeadlineEndsWithTheBody(t *testing.T) {
	const timeout = 200 * time.Millisecond
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	channels := channel.NewService(channel.Options{Store: st, Region: "us-west-2", Config: channel.DefaultConfig()})
	ch, err := channels.Create(t.Context(), "111122223333", channel.CreateInput{Name: "alexa"})
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Options{
		Channels: channels, Auth: fixedCaller{}, Alexa: patientRelay{delay: 4 * timeout},
		MaxBodyBytes: 64 << 10, BodyReadTimeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	body, _ := json.Marshal(map[string]string{"ChannelARN": ch.ARN, "SenderClientId": "alexa-1", "MessagePayload": "b2ZmZXI="})
	resp, err := srv.Client().Post(srv.URL+kvsapi.PathSendAlexaOfferToMaster, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(reply), "YW5zd2Vy") {
		t.Errorf("SendAlexaOfferToMaster outlasting the body deadline: %d %s", resp.StatusCode, reply)
	}
}
