package signaling

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestRelayJSSpelling: a master and three viewers exchange offers, answers
// and candidates with the JS SDK's frames; deliveries are byte-exact, carry
// senderClientId only towards the master, and reach only their recipient.
func TestRelayJSSpelling(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	viewers := []*client{e.dial("viewer-1"), e.dial("viewer-2"), e.dial("viewer-3")}
	for i, v := range viewers {
		id := fmt.Sprintf("viewer-%d", i+1)
		v.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
		v.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "", "corr-1"))
		master.expect(toMaster(id, kvsapi.ActionSDPOffer, offerPayload))
		master.expect(toMaster(id, kvsapi.ActionICECandidate, candPayload))
	}
	// Answers in reverse order: each viewer's first frame must be its own
	// answer, which proves no answer went to another viewer.
	for i := len(viewers) - 1; i >= 0; i-- {
		id := fmt.Sprintf("viewer-%d", i+1)
		payload := answerPayload[:len(answerPayload)-4] + fmt.Sprintf("MDA%d", i) // distinct, still base64
		master.send(jsMsg(kvsapi.ActionSDPAnswer, payload, id, ""))
		master.send(jsMsg(kvsapi.ActionICECandidate, candPayload, id, "corr-2"))
		viewers[i].expect(toViewer(kvsapi.ActionSDPAnswer, payload))
		viewers[i].expect(toViewer(kvsapi.ActionICECandidate, candPayload))
	}
	// A viewer's recipientClientId is ignored: it cannot reach another
	// viewer, its message goes to the master.
	viewers[0].send(jsMsg(kvsapi.ActionICECandidate, candPayload, "viewer-2", ""))
	master.expect(toMaster("viewer-1", kvsapi.ActionICECandidate, candPayload))
	master.send(jsMsg(kvsapi.ActionICECandidate, "bWFya2Vy", "viewer-2", ""))
	viewers[1].expect(toViewer(kvsapi.ActionICECandidate, "bWFya2Vy"))
	if got := e.metric("messages_relayed_total", "type", kvsapi.ActionSDPOffer, "outcome", "delivered"); got != 3 {
		t.Fatalf("relayed SDP_OFFER metric = %v, want 3", got)
	}
	if got := e.metric("connections", "role", "VIEWER"); got != 3 {
		t.Fatalf("viewer connections gauge = %v, want 3", got)
	}
}

// TestRelayCSDKFrames: the C SDK's capitalised keys, pretty-printed JSON,
// a viewer's arbitrary RecipientClientId and its IceServerList member.
func TestRelayCSDKFrames(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	viewer := e.dial("ConsumerViewer")
	viewer.send("{\n\t\"action\": \"SDP_OFFER\",\n\t\"RecipientClientId\": \"ProducerMaster\",\n\t\"MessagePayload\": \"" + offerPayload +
		"\",\n\t\"IceServerList\": [{\"Password\": \"p\", \"Ttl\": 281, \"Uris\": [\"turn:192.0.2.1:3478\"], \"Username\": \"u\"}]\n}")
	viewer.send(`{"action": "ICE_CANDIDATE", "RecipientClientId": "", "MessagePayload": "` + candPayload + `", "CorrelationId": "c-1"}`)
	master.expect(toMaster("ConsumerViewer", kvsapi.ActionSDPOffer, offerPayload))
	master.expect(toMaster("ConsumerViewer", kvsapi.ActionICECandidate, candPayload))

	master.send(`{"action": "SDP_ANSWER", "RecipientClientId": "ConsumerViewer", "MessagePayload": "` + answerPayload + `", "CorrelationId": "c-2", "Extra": {"x": [1, 2]}}`)
	master.send(`{"action":"ICE_CANDIDATE","RECIPIENTCLIENTID":"ConsumerViewer","messagepayload":"` + candPayload + `"}`)
	viewer.expect(toViewer(kvsapi.ActionSDPAnswer, answerPayload))
	viewer.expect(toViewer(kvsapi.ActionICECandidate, candPayload))
}

// TestMasterOfferToViewer: masters may send offers, viewers answers (6.6).
func TestMasterOfferToViewer(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	viewer := e.dial("v1")
	master.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "v1", ""))
	viewer.expect(toViewer(kvsapi.ActionSDPOffer, offerPayload))
	viewer.send(jsMsg(kvsapi.ActionSDPAnswer, answerPayload, "", ""))
	master.expect(toMaster("v1", kvsapi.ActionSDPAnswer, answerPayload))
}

// TestMailboxBeforeMaster: a viewer's offer and candidates sent before any
// master exists reach the master, in order, when it connects; so do the
// master's messages to a viewer that connects later.
func TestMailboxBeforeMaster(t *testing.T) {
	e := newEnv(t, nil)
	viewer := e.dial("v1")
	sent := []struct{ typ, payload string }{
		{kvsapi.ActionSDPOffer, offerPayload},
		{kvsapi.ActionICECandidate, "YzE="},
		{kvsapi.ActionICECandidate, "YzI="},
		{kvsapi.ActionICECandidate, "YzM="},
	}
	for _, m := range sent {
		viewer.send(jsMsg(m.typ, m.payload, "", ""))
	}
	waitFor(t, "messages queued", func() bool {
		return e.metric("messages_relayed_total", "type", kvsapi.ActionICECandidate, "outcome", "queued") == 3
	})
	if got := e.metric("mailbox_messages"); got != 4 {
		t.Fatalf("mailbox depth = %v, want 4", got)
	}
	master := e.dial("")
	for _, m := range sent {
		master.expect(toMaster("v1", m.typ, m.payload))
	}
	if got := e.metric("mailbox_messages"); got != 0 {
		t.Fatalf("mailbox depth after delivery = %v, want 0", got)
	}

	master.send(jsMsg(kvsapi.ActionSDPAnswer, answerPayload, "late-viewer", ""))
	master.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "late-viewer", ""))
	waitFor(t, "answer queued", func() bool { return e.metric("mailbox_messages") == 2 })
	late := e.dial("late-viewer")
	late.expect(toViewer(kvsapi.ActionSDPAnswer, answerPayload))
	late.expect(toViewer(kvsapi.ActionICECandidate, candPayload))
}

// TestMailboxExpiry: messages older than the channel's TTL are dropped and
// counted, never delivered.
func TestMailboxExpiry(t *testing.T) {
	e := newEnv(t, nil)
	e.dir.put(testAccount, testARN, 300*time.Millisecond)
	viewer := e.dial("v1")
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	viewer.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "", ""))
	waitFor(t, "expiry", func() bool { return e.metric("mailbox_expired_total") == 2 })
	if got := e.metric("mailbox_messages"); got != 0 {
		t.Fatalf("mailbox depth after expiry = %v", got)
	}
	master := e.dial("")
	viewer.send(jsMsg(kvsapi.ActionICECandidate, "bWFya2Vy", "", ""))
	master.expect(toMaster("v1", kvsapi.ActionICECandidate, "bWFya2Vy")) // first frame: nothing expired came through
}

// TestUpdateChannelTTL: a TTL changed while connections are open applies
// to the messages they send afterwards, and only on its channel.
func TestUpdateChannelTTL(t *testing.T) {
	e := newEnv(t, nil) // the channel's TTL starts long
	viewer := e.dial("v1")
	e.hub.UpdateChannelTTL(testAccount, testARN, 300*time.Millisecond)
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	waitFor(t, "expiry under the new TTL", func() bool { return e.metric("mailbox_expired_total") == 1 })
	// Back to a TTL no test run outlasts, then an update of another
	// channel, which must leave this one's alone.
	e.hub.UpdateChannelTTL(testAccount, testARN, time.Hour)
	e.hub.UpdateChannelTTL(testAccount, "arn:aws:kinesisvideo:us-west-2:111122223333:channel/other/1", time.Millisecond)
	if got := e.connTTL("v1"); got != time.Hour {
		t.Fatalf("viewer's TTL = %v after another channel's update, want 1h", got)
	}
	viewer.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "", ""))
	waitFor(t, "candidate queued", func() bool { return e.metric("mailbox_messages") == 1 })
	master := e.dial("")
	master.expect(toMaster("v1", kvsapi.ActionICECandidate, candPayload))
}

// TestMailboxLimit: the channel's mailbox bound answers ClientLimitExceeded
// instead of growing.
func TestMailboxLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MailboxMaxMessagesPerChannel = 2 })
	viewer := e.dial("v1")
	viewer.send(jsMsg(kvsapi.ActionICECandidate, "YzE=", "", "a"))
	viewer.send(jsMsg(kvsapi.ActionICECandidate, "YzI=", "", "b"))
	viewer.send(jsMsg(kvsapi.ActionICECandidate, "YzM=", "", "c"))
	expectStatus(t, viewer.next(), "c", kvsapi.CodeClientLimitExceeded)
	master := e.dial("")
	master.expect(toMaster("v1", kvsapi.ActionICECandidate, "YzE="))
	master.expect(toMaster("v1", kvsapi.ActionICECandidate, "YzI="))
}

// TestQueuedOfferReplaced: a newer offer from the same viewer replaces the
// queued one; candidates stay.
func TestQueuedOfferReplaced(t *testing.T) {
	e := newEnv(t, nil)
	viewer := e.dial("v1")
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, "b2xk", "", ""))
	viewer.send(jsMsg(kvsapi.ActionICECandidate, "YzE=", "", ""))
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, "bmV3", "", ""))
	waitFor(t, "queued", func() bool { return e.metric("mailbox_replaced_total") == 1 })
	master := e.dial("")
	master.expect(toMaster("v1", kvsapi.ActionICECandidate, "YzE="))
	master.expect(toMaster("v1", kvsapi.ActionSDPOffer, "bmV3"))
}

// TestReconnectICEServer: NotifyICEServersChanged sends RECONNECT_ICE_SERVER
// to every connection, which stays open.
func TestReconnectICEServer(t *testing.T) {
	e := newEnv(t, nil)
	master, viewer := e.dial(""), e.dial("v1")
	e.hub.NotifyICEServersChanged()
	master.expect(`{"messageType":"RECONNECT_ICE_SERVER"}`)
	viewer.expect(`{"messageType":"RECONNECT_ICE_SERVER"}`)
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	master.expect(toMaster("v1", kvsapi.ActionSDPOffer, offerPayload))
}

// TestSubprotocolCompressionOrigin: "wss" is echoed only when offered, a
// client offering permessage-deflate connects (and is declined), and any
// Origin is accepted.
func TestSubprotocolCompressionOrigin(t *testing.T) {
	e := newEnv(t, nil)
	c, err := e.tryDial(e.url(testARN, ""), &websocket.DialOptions{
		Subprotocols:    []string{"wss"},
		CompressionMode: websocket.CompressionContextTakeover,
		HTTPHeader:      map[string][]string{"Origin": {"https://console.example.com"}},
	}, true)
	if err != nil {
		t.Fatalf("dial with subprotocol, deflate and origin: %v", err)
	}
	if ext := c.header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("permessage-deflate accepted (%q); the server declines it", ext)
	}
	if c.ws.Subprotocol() != "wss" {
		t.Fatalf("subprotocol = %q, want wss", c.ws.Subprotocol())
	}
	v, err := e.tryDial(e.url(testARN, "v1"), &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover}, true)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if v.ws.Subprotocol() != "" {
		t.Fatalf("subprotocol %q echoed although none was offered", v.ws.Subprotocol())
	}
	big := strings.Repeat("QUJD", 600) // large enough for the client to compress
	v.send(jsMsg(kvsapi.ActionSDPOffer, big, "", ""))
	c.expect(toMaster("v1", kvsapi.ActionSDPOffer, big))
}

// TestPresence reports the master and the counted viewers.
func TestPresence(t *testing.T) {
	e := newEnv(t, nil)
	if m, n := e.hub.Presence(testAccount, testARN); m || n != 0 {
		t.Fatalf("Presence of an empty channel = %v, %d", m, n)
	}
	e.dial("")
	e.dial("v1")
	e.dial("v2")
	if m, n := e.hub.Presence(testAccount, testARN); !m || n != 2 {
		t.Fatalf("Presence = %v, %d; want true, 2", m, n)
	}
}
