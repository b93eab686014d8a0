package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/config"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// stallingStore holds GetChannel, once stall is set, until release is
// closed: a store call that has begun (past its context check) and takes
// long, as on a stalled disk. It then runs the real call, whose error it
// reports on result.
type stallingStore struct {
	store.Store
	stall   atomic.Bool
	entered chan struct{}
	release chan struct{}
	result  chan error
}

func (s *stallingStore) GetChannel(ctx context.Context, account, name string) (store.Channel, error) {
	if !s.stall.CompareAndSwap(true, false) {
		return s.Store.GetChannel(ctx, account, name)
	}
	close(s.entered)
	<-s.release
	ch, err := s.Store.GetChannel(context.Background(), account, name)
	s.result <- err
	return ch, err
}

// shutdownWithStalledHandler starts a server whose store stalls the next
// GetChannel, sends a DescribeSignalingChannel into the stall and cancels
// Run while it is there. It returns the store and Run's end.
func shutdownWithStalledHandler(t *testing.T, configure func(*App)) (*stallingStore, <-chan error, time.Time) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Server.ShutdownTimeout = config.Duration(300 * time.Millisecond)
	creds := sigv4.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	cfg.Credentials = config.Keys{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}
	stalling := &stallingStore{entered: make(chan struct{}), release: make(chan struct{}), result: make(chan error, 1)}
	a := New(cfg, Options{})
	a.wrapStore = func(st store.Store) store.Store { stalling.Store = st; return stalling }
	if configure != nil {
		configure(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("server stopped before serving: %v", err)
	}
	addr := a.Addr().String()
	createChannel(t, addr, creds, "stalled")

	stalling.stall.Store(true)
	payload := []byte(`{"ChannelName":"stalled"}`)
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/describeSignalingChannel", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if err := sigv4.SignRequest(req, payload, creds, "us-west-2", "kinesisvideo", time.Now()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t.Cleanup(client.CloseIdleConnections)
	go func() {
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-stalling.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the store")
	}
	cancel()
	return stalling, done, time.Now()
}

// TestShutdownClosesStoreAfterHandlers: when a shutdown runs past its
// timeout, the server's connections are closed, but a handler still in a
// store call must finish with the store open: Run returns only once it has,
// and closes the store after.
func TestShutdownClosesStoreAfterHandlers(t *testing.T) {
	stalling, done, cancelled := shutdownWithStalledHandler(t, nil)
	select {
	case err := <-done:
		close(stalling.release)
		t.Fatalf("Run returned (%v) %s after the shutdown began, with a handler still in the store; "+
			"the store call then got: %v", err, time.Since(cancelled).Round(time.Millisecond), <-stalling.result)
	case <-time.After(time.Second): // the shutdown timeout is 300ms
	}
	close(stalling.release)
	if err := <-stalling.result; err != nil {
		t.Errorf("the stalled store call got %v after the shutdown timeout; want the store still open", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once the handler had")
	}
}

// TestShutdownWaitForHandlersIsBounded: a handler that does not return
// holds the shutdown up for handlerGrace at most; the store is then closed
// under it, and its store call fails with store.ErrClosed, no worse.
func TestShutdownWaitForHandlersIsBounded(t *testing.T) {
	const grace = 400 * time.Millisecond
	stalling, done, cancelled := shutdownWithStalledHandler(t, func(a *App) { a.handlerGrace = grace })
	select {
	case <-done:
		if took := time.Since(cancelled); took < grace {
			t.Errorf("Run returned %s after the shutdown began; want the handlers waited for %s", took, grace)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return while a handler was stuck")
	}
	close(stalling.release)
	select {
	case err := <-stalling.result:
		if err != store.ErrClosed {
			t.Errorf("the store call after Run returned got %v, want store.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the store call hung once the store was closed")
	}
}
