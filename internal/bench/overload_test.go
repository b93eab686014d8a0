package bench

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// TestSlowMasterLosesNothing: a master that stops reading is dropped by
// the server as a slow reader. It connects again, as KVS clients do, and
// then every message its viewers sent was either delivered to it once or
// refused to its sender with a STATUS_RESPONSE naming the message: none
// lost, none both. This is what the relay scenario's exactly-once check
// relies on past saturation.
func TestSlowMasterLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A short send queue and a small mailbox, so that the master is
	// dropped soon and its viewers are refused while it is away.
	srv := startTestServer(ctx, t, limitsYAML("  send_queue_length: 256\n  mailbox_max_messages_per_channel: 50\n"))
	arns, err := createChannels(ctx, srv, "slow-master", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	rig, err := dialRig(ctx, newWSDialer(srv.wssEndpoint(), &srv.Creds, srv.PinnedTLS, 1), arns, 2)
	if err != nil {
		t.Fatal(err)
	}
	gate := &sync.RWMutex{}
	rig.masterGate = gate
	gate.Lock()
	rig.startMasters()
	released := false
	release := func() {
		if !released {
			released = true
			gate.Unlock()
		}
	}
	defer rig.close()
	defer release()

	// The master's socket buffers fill, then its send queue, then the
	// mailbox: offer until the viewers are refused.
	for deadline := time.Now().Add(30 * time.Second); rig.refusals.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal after 30 s of offering to a master that reads nothing (%d sent)", rig.sent.Load())
		}
		rig.send(ctx, 4000, time.Second, 2)
	}
	release()
	rig.drain(30 * time.Second)
	rig.close()
	tally := rig.verify()
	sent, refused, reconnects := rig.sent.Load(), rig.refusals.Load(), rig.reconnects.Load()
	t.Logf("%d sent, %d delivered, %d refused %v, %d offers superseded in the mailbox, master connected again %d times",
		sent, rig.received.Load(), refused, rig.refusalReasons(), tally.superseded, reconnects)
	if tally.missing != 0 || tally.dups != 0 || tally.foreign != 0 || tally.both != 0 {
		t.Errorf("%d missing, %d duplicated, %d unknown frames, %d both delivered and refused", tally.missing, tally.dups, tally.foreign, tally.both)
	}
	if reconnects == 0 {
		t.Error("the server never dropped the master that read nothing")
	}
	if rig.received.Load() == 0 || refused == 0 {
		t.Errorf("expected both deliveries and refusals, got %d and %d", rig.received.Load(), refused)
	}
	if rig.sendErrs.Load() != 0 {
		t.Errorf("%d send errors: %v", rig.sendErrs.Load(), rig.firstErr.Load())
	}
}

// startTestServer starts the server under test with yaml for one test;
// it stops when the test's deferred calls have run.
func startTestServer(ctx context.Context, t *testing.T, yaml string) *server {
	t.Helper()
	opts := Options{Binary: switchboardBinary, ServerBinary: switchboardBinary, Smoke: true, Out: t.TempDir(), Progress: io.Discard}
	srv, stop, err := startScratchServer(ctx, opts, serverSpec{yaml: yaml})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv
}
