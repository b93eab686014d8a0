package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testbin"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// binary is the switchboard executable built once by TestMain: the
// scenarios start it as the server under test and as the bare forwarder.
var switchboardBinary string

func TestMain(m *testing.M) {
	testbin.Main(m, "../../cmd/switchboard", false, &switchboardBinary)
}

// TestSmoke runs every scenario in its smoke form against the real binary
// and asserts correctness only: every message delivered exactly once,
// every connection accounted for, coturn found, every session relayed;
// turn runs in both directions, connections also with resumed sessions.
// Timing is never asserted; the full-size figures live in
// docs/benchmarks.md.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and coturn; skipped with -short")
	}
	type smokeRun struct {
		name, scenario, direction string
		resumeTLS                 bool
	}
	var runs []smokeRun
	for _, name := range Scenarios {
		runs = append(runs, smokeRun{name, name, "", false})
	}
	// The turn relay batches each direction on its own path.
	runs = append(runs, smokeRun{"turn-" + peerToClient, "turn", peerToClient, false})
	// Resumed sessions must be counted and accounted for like full ones.
	runs = append(runs, smokeRun{"connections-resume-tls", "connections", "", true})
	for _, sr := range runs {
		name := sr.scenario
		t.Run(sr.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out, progress bytes.Buffer
			opts := Options{Binary: switchboardBinary, Smoke: true, Out: t.TempDir(), Progress: &progress, Direction: sr.direction, ResumeTLS: sr.resumeTLS}
			rep, err := Run(ctx, name, opts, &out)
			if errors.Is(err, ErrNoCoturn) {
				t.Fatalf("%v: the turn scenario compares against Debian's coturn; scripts/test.sh installs it (ensure_command turnutils_uclient coturn)", err)
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s%s", name, err, progress.String(), out.String())
			}
			if len(rep.Checks) == 0 {
				t.Fatalf("%s checked nothing:\n%s", name, out.String())
			}
			for _, c := range rep.Failed() {
				t.Errorf("%s: %s: %s", name, c.Name, c.Detail)
			}
			if t.Failed() {
				t.Logf("report:\n%s\nprogress:\n%s", out.String(), progress.String())
			}
		})
	}
}

// TestPercentile pins the nearest-rank percentiles the reports use.
func TestPercentile(t *testing.T) {
	s := samples{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	sum := summarize(s)
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{{"p50", sum.P50, 5}, {"p95", sum.P95, 10}, {"p99", sum.P99, 10}, {"max", sum.Max, 10}} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if got := summarize(nil); got.N != 0 || got.P99 != 0 {
		t.Errorf("empty summary = %+v", got)
	}
}

// TestStampRoundTrip: a relayed message's stamp survives the frame.
func TestStampRoundTrip(t *testing.T) {
	for _, tmpl := range []frameTemplate{newTemplate("ICE_CANDIDATE", icePayloadChars), newTemplate("SDP_OFFER", sdpPayloadChars)} {
		want := stamp{viewer: 7, seq: 123456, sent: 987654321}
		got, ok := readStamp(tmpl.fill(nil, want))
		if !ok || got != want {
			t.Errorf("stamp %+v came back as %+v (%v)", want, got, ok)
		}
	}
}

// TestPlot draws a chart and checks that a PNG came out.
func TestPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	c := chart{title: "t", xLabel: "x", yLabel: "y", logY: true, series: []series{{name: "a", color: blue, xs: []float64{1, 2, 3}, ys: []float64{0.5, 5, 50}}}}
	if err := c.writePNG(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Fatalf("no PNG written: %v", err)
	}
}

// TestRefusalNamesTheMessage: the correlation id a relayed message carries
// comes back in the server's STATUS_RESPONSE and names the message.
func TestRefusalNamesTheMessage(t *testing.T) {
	msg := newTemplate("SDP_OFFER", sdpPayloadChars).fill(nil, stamp{viewer: 41, seq: 70_001, sent: 5})
	var sent kvsapi.ClientMessage
	if err := json.Unmarshal(msg, &sent); err != nil {
		t.Fatalf("the template is not a client message: %v", err)
	}
	reply, err := json.Marshal(kvsapi.Event{MessageType: kvsapi.MessageStatusResponse,
		StatusResponse: &kvsapi.StatusResponse{CorrelationID: sent.CorrelationID, ErrorType: "ClientLimitExceededException", StatusCode: "400"}})
	if err != nil {
		t.Fatal(err)
	}
	viewer, seq, reason, ok := readRefusal(reply)
	if !ok || viewer != 41 || seq != 70_001 || reason != "ClientLimitExceededException" {
		t.Errorf("refusal of viewer 41's message 70001 read as viewer %d, message %d, %q (%v)", viewer, seq, reason, ok)
	}
	if _, _, _, ok := readRefusal([]byte(`{"messageType":"SDP_ANSWER","messagePayload":"eyJ9"}`)); ok {
		t.Error("a message that is not a STATUS_RESPONSE was read as a refusal")
	}
}
