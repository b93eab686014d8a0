package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Message sizes of the relay scenario, as base64 payload characters: an
// ICE candidate ({"candidate":"candidate:1 1 udp ... typ host ...",
// "sdpMid":"0",...} is about 170 bytes of JSON) and an SDP offer of a few
// kilobytes. Every sdpEvery-th message is an SDP offer.
const (
	icePayloadChars = 232
	sdpPayloadChars = 4000
	sdpEvery        = 10
	stampChars      = 24 // base64 of a 18-byte stamp
	correlationHex  = 16 // the correlation id: viewer and sequence number in hex
)

// stamp is what a relayed message carries to measure it: who sent it, its
// sequence number and when (nanoseconds since the run's epoch).
type stamp struct {
	viewer uint32
	seq    uint32
	sent   int64
}

// frameTemplate is a client message with room for a stamp at the start of
// its payload and for a correlation id naming the message, so that a
// message the server refuses comes back to its sender as a
// STATUS_RESPONSE that says which one it was (spec 6.5.2).
type frameTemplate struct {
	frame []byte
	at    int // offset of the stamp
	corr  int // offset of the correlation id
}

func newTemplate(action string, payloadChars int) frameTemplate {
	head := `{"action":"` + action + `","messagePayload":"`
	filler := strings.Repeat("A", payloadChars-stampChars)
	middle := `","correlationId":"`
	frame := []byte(head + strings.Repeat("A", stampChars) + filler + middle + strings.Repeat("0", correlationHex) + `"}`)
	return frameTemplate{frame: frame, at: len(head), corr: len(head) + payloadChars + len(middle)}
}

// fill writes s into a copy of the template held in dst.
func (t frameTemplate) fill(dst []byte, s stamp) []byte {
	dst = append(dst[:0], t.frame...)
	var raw [18]byte
	binary.BigEndian.PutUint32(raw[0:], s.viewer)
	binary.BigEndian.PutUint32(raw[4:], s.seq)
	binary.BigEndian.PutUint64(raw[8:], uint64(s.sent)) //nolint:gosec // a positive duration
	base64.StdEncoding.Encode(dst[t.at:t.at+stampChars], raw[:])
	hex.Encode(dst[t.corr:t.corr+correlationHex], raw[:8])
	return dst
}

// readRefusal reads a STATUS_RESPONSE the server sent a viewer: which of
// its messages was refused, and why.
func readRefusal(frame []byte) (viewer, seq uint32, errorType string, ok bool) {
	var ev kvsapi.Event
	if json.Unmarshal(frame, &ev) != nil || ev.MessageType != kvsapi.MessageStatusResponse || ev.StatusResponse == nil {
		return 0, 0, "", false
	}
	raw, err := hex.DecodeString(ev.StatusResponse.CorrelationID)
	if err != nil || len(raw) != 8 {
		return 0, 0, "", false
	}
	return binary.BigEndian.Uint32(raw[0:]), binary.BigEndian.Uint32(raw[4:]), ev.StatusResponse.ErrorType, true
}

var payloadKey = []byte(`"messagePayload":"`)

// readStamp finds the stamp in a delivered frame: a switchboard event or,
// through the bare forwarder, the client message itself.
func readStamp(frame []byte) (stamp, bool) {
	i := bytes.Index(frame, payloadKey)
	if i < 0 || len(frame) < i+len(payloadKey)+stampChars {
		return stamp{}, false
	}
	var raw [18]byte
	src := frame[i+len(payloadKey) : i+len(payloadKey)+stampChars]
	if _, err := base64.StdEncoding.Decode(raw[:], src); err != nil {
		return stamp{}, false
	}
	return stamp{
		viewer: binary.BigEndian.Uint32(raw[0:]),
		seq:    binary.BigEndian.Uint32(raw[4:]),
		sent:   int64(binary.BigEndian.Uint64(raw[8:])), //nolint:gosec // written by fill
	}, true
}

// epoch is the time base of stamps (monotonic through time.Since).
var epoch = time.Now()

func sinceEpoch() int64 { return int64(time.Since(epoch)) }

// bitset records which sequence numbers of one sender arrived.
type bitset []uint64

// set marks n and reports whether it was already marked.
func (b *bitset) set(n uint32) (dup bool) {
	w := int(n / 64)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	bit := uint64(1) << (n % 64)
	dup = (*b)[w]&bit != 0
	(*b)[w] |= bit
	return dup
}

// has reports whether n is marked.
func (b bitset) has(n uint32) bool {
	w := int(n / 64)
	return w < len(b) && b[w]&(uint64(1)<<(n%64)) != 0
}

// count returns how many are marked.
func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// overlap returns how many are marked in both b and o.
func (b bitset) overlap(o bitset) int {
	n := 0
	for i := range min(len(b), len(o)) {
		n += bits.OnesCount64(b[i] & o[i])
	}
	return n
}
