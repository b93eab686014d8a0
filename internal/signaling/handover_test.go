package signaling

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestTakeoverBetweenActivationAndServe: a master that took its mailbox
// (activation) and is displaced before its connection is served must not
// write that mailbox to its own, replaced, client: the messages belong to
// the address's newer holder, which must receive them. The takeover is
// landed in that window with the afterActivate hook.
func TestTakeoverBetweenActivationAndServe(t *testing.T) {
	activated := make(chan *conn, 1)
	release := make(chan struct{})
	t.Cleanup(func() { afterActivate = nil }) // runs after the env's cleanup
	first := true
	afterActivate = func(c *conn) {
		if c.addr.ClientID != "" || !first { // only the first master waits
			return
		}
		first = false
		activated <- c
		<-release
	}
	e := newEnv(t, func(c *Config) { c.PingInterval = 0 })

	// The viewer's offer waits in the master's mailbox.
	viewer := e.dial("v1")
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	waitFor(t, "the offer queued", func() bool { return e.bus.Stats().MailboxMessages == 1 })

	old := e.dial("")
	select {
	case <-activated: // the old master holds the offer, and is not served yet
	case <-time.After(10 * time.Second):
		t.Fatal("the first master was never activated")
	}
	fresh := e.dial("") // takeover: its handshake has displaced the old master
	close(release)

	old.expect(goAway) // and nothing before it: the offer is not the old master's
	fresh.expect(toMaster("v1", kvsapi.ActionSDPOffer, offerPayload))
	old.expectClosed(websocket.StatusNormalClosure, causeReplaced.reason)
}
