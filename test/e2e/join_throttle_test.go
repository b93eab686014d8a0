package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestPeersJoinThroughThrottling starts a master and four viewers at
// once on one channel whose DescribeSignalingChannel quota lets one call
// through at a time (5 per second, burst 1): the server refuses some of
// their first joins, each peer tries again, and every viewer reaches the
// master without any Run failing. A viewer of a channel that does not
// exist, on the other hand, fails its Run after one attempt.
//
// The rate is the default one; only the burst is smaller. A slower rate
// would leave more peers still refused after their last attempt, which
// would make the test fail now and then for no fault of the client.
func TestPeersJoinThroughThrottling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	yaml := "control_plane:\n  operations:\n    DescribeSignalingChannel:\n      channel_per_second: 5\n      channel_burst: 1\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverOptions{args: []string{"--config", path}})
	kvs := srv.goClient(t)
	ctx := testContext(t)

	// An unknown channel is a refusal that will not change: Run returns
	// it after a single DescribeSignalingChannel.
	lost, err := client.NewViewer(client.ViewerConfig{Client: kvs, Channel: "absent", ICE: loopbackICE(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := lost.Run(ctx); !client.IsNotFound(err) {
		t.Fatalf("viewer of a missing channel: Run returned %v, want ResourceNotFoundException", err)
	}
	notFound := `switchboard_api_requests_total{error="ResourceNotFoundException",operation="DescribeSignalingChannel"}`
	if n := metricValue(srv.metricsText(t), notFound); n != 1 {
		t.Fatalf("%v refused descriptions of the missing channel, want 1 (no second attempt)", n)
	}

	// The peers join without creating the channel, so that each one's
	// join describes it exactly once when not refused.
	name := "crowded"
	if _, err := kvs.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{ChannelName: &name}); err != nil {
		t.Fatal(err)
	}
	events := newViewerLog()
	master, err := client.NewMaster(client.MasterConfig{Client: kvs, Channel: name, ICE: loopbackICE(false), OnViewer: events.add})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"master"}
	runs := []func(context.Context) error{master.Run}
	for i := range 4 {
		v, err := client.NewViewer(client.ViewerConfig{Client: kvs, Channel: name, ClientID: fmt.Sprintf("viewer-%d", i), ICE: loopbackICE(false)})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, v.ClientID())
		runs = append(runs, v.Run)
	}
	// Everything is built before anything runs, so that the five first
	// descriptions reach the server together.
	peers := make([]*running, len(runs))
	for i, run := range runs {
		peers[i] = start(t, names[i], run)
	}
	for _, id := range names[1:] {
		events.await(t, id+" connected", viewerIn(id, "connected"))
	}
	// Every Run is still going (and each must return nil when the test
	// stops it); none gave up on the refusals.
	for i, r := range peers {
		if len(r.done) != 0 {
			t.Errorf("%s: Run returned while the others connected: %v", names[i], r.stop())
		}
	}
	throttled := `switchboard_api_throttled_total{limit="channel",operation="DescribeSignalingChannel"}`
	if n := metricValue(srv.metricsText(t), throttled); n <= 0 {
		t.Fatalf("the server throttled no DescribeSignalingChannel (%s is %v): the peers' retry went untested", throttled, n)
	}
}
