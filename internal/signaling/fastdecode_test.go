package signaling

import (
	"encoding/json"
	"testing"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// fastDecodeSeeds are frames on both sides of the fast path's limits.
var fastDecodeSeeds = []string{
	`{"action":"SDP_OFFER","messagePayload":"eyJ0eXBlIjoib2ZmZXIifQ=="}`,
	` { "Action" : "ICE_CANDIDATE" , "RecipientClientId":"v1", "MessagePayload":"cA==", "CorrelationId":"c1" } `,
	`{"action":"SDP_OFFER","action":"SDP_ANSWER","messagePayload":"cA=="}`,
	`{"ACTION":"SDP_OFFER","iceServerList":"x","messagePayload":"cA=="}`,
	`{"action":"SDP_OFFER","messagePayload":"cA==","IceServerList":[{"Uris":["turn:x"]}]}`,
	`{"action":"SDP_OFFER","messagePayload":"c\u0041=="}`,
	`{"action":"SDP_OFFER","messagePayload":null}`,
	`{"action":"SDP_OFFER","messagePayload":"cA=="}x`,
	`{"action":"SDP_OFFER",}`,
	`{}`, ` {} `, `{`, `[]`, `"x"`, ``, `{"a":"b"`, `{"a""b"}`, `{"a":"b"]`,
	"{\"action\":\"SDP_OFFER\",\"messagePayload\":\"\xff\"}",
	"{\"action\":\"SDP_\tOFFER\"}",
	`{"actıon":"SDP_OFFER"}`,
}

// TestDecodeFastMatchesJSON: whenever the fast path accepts a frame, it
// decodes exactly what encoding/json decodes.
func TestDecodeFastMatchesJSON(t *testing.T) {
	for _, frame := range fastDecodeSeeds {
		checkFastMatchesJSON(t, []byte(frame))
	}
	if !decodeFast([]byte(fastDecodeSeeds[0]), &kvsapi.ClientMessage{}) {
		t.Error("the fast path refused the most common frame shape")
	}
}

// FuzzDecodeFastMatchesJSON searches for a frame on which the fast path
// and encoding/json disagree.
func FuzzDecodeFastMatchesJSON(f *testing.F) {
	for _, s := range fastDecodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) { checkFastMatchesJSON(t, frame) })
}

func checkFastMatchesJSON(t *testing.T, frame []byte) {
	t.Helper()
	var fast kvsapi.ClientMessage
	if !decodeFast(frame, &fast) {
		return
	}
	var ref kvsapi.ClientMessage
	if err := json.Unmarshal(frame, &ref); err != nil {
		t.Fatalf("fast path accepted %q, which encoding/json refuses: %v", frame, err)
	}
	if fast != ref {
		t.Fatalf("frame %q: fast path %+v, encoding/json %+v", frame, fast, ref)
	}
}

// TestDecodeFastCopiesOnlyValues: the frame is the reader's buffer, so the
// values must be copies, but the action (one of three names) is not
// copied: a viewer's message costs two allocations, its payload and its
// correlation id.
func TestDecodeFastCopiesOnlyValues(t *testing.T) {
	frame := []byte(`{"action":"ICE_CANDIDATE","messagePayload":"` + candPayload + `","correlationId":"c-1"}`)
	var msg kvsapi.ClientMessage
	allocs := testing.AllocsPerRun(100, func() {
		if !decodeFast(frame, &msg) {
			t.Fatal("not decoded")
		}
	})
	if allocs != 2 {
		t.Fatalf("%v allocations per message, want 2", allocs)
	}
	clear(frame) // the reader reuses its buffer
	if msg.Action != kvsapi.ActionICECandidate || msg.MessagePayload != candPayload || msg.CorrelationID != "c-1" {
		t.Fatalf("decoded %+v does not survive its frame", msg)
	}
}
