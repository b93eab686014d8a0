package controlplane

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// lockedLog is a log destination safe for the server's goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestRequestLogNamesTheAccount: the request log line of an authenticated
// call says whose it was; an unknown operation, never authenticated, has
// no account.
func TestRequestLogNamesTheAccount(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var out lockedLog
	api, err := New(Options{
		Channels:     channel.NewService(channel.Options{Store: st, Region: "us-west-2", Config: channel.DefaultConfig()}),
		Auth:         fixedCaller{},
		MaxBodyBytes: 64 << 10,
		Logger:       slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	for _, path := range []string{kvsapi.PathDescribeSignalingChannel, "/no-such-operation"} {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(`{"ChannelName":"cam"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("%s answered 200", path)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var described, unknown string
	for _, line := range lines {
		switch {
		case strings.Contains(line, "operation=DescribeSignalingChannel"):
			described = line
		case strings.Contains(line, "operation=Unknown"):
			unknown = line
		}
	}
	if !strings.Contains(described, "account=111122223333") {
		t.Errorf("the describe call's log line does not name the account: %q", described)
	}
	if unknown == "" || strings.Contains(unknown, "account=") {
		t.Errorf("the unknown operation's log line: %q, want one without an account", unknown)
	}
}
