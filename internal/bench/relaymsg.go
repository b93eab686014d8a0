package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
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
)

// stamp is what a relayed message carries to measure it: who sent it, its
// sequence number and when (nanoseconds since the run's epoch).
type stamp struct {
	viewer uint32
	seq    uint32
	sent   int64
}

// frameTemplate is a client message with room for a stamp at the start of
// its payload.
type frameTemplate struct {
	frame []byte
	at    int // offset of the stamp
}

func newTemplate(action string, payloadChars int) frameTemplate {
	head := `{"action":"` + action + `","messagePayload":"`
	filler := strings.Repeat("A", payloadChars-stampChars)
	frame := []byte(head + strings.Repeat("A", stampChars) + filler + `"}`)
	return frameTemplate{frame: frame, at: len(head)}
}

// fill writes s into a copy of the template held in dst.
func (t frameTemplate) fill(dst []byte, s stamp) []byte {
	dst = append(dst[:0], t.frame...)
	var raw [18]byte
	binary.BigEndian.PutUint32(raw[0:], s.viewer)
	binary.BigEndian.PutUint32(raw[4:], s.seq)
	binary.BigEndian.PutUint64(raw[8:], uint64(s.sent)) //nolint:gosec // a positive duration
	base64.StdEncoding.Encode(dst[t.at:t.at+stampChars], raw[:])
	return dst
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

// count returns how many are marked.
func (b bitset) count() int {
	n := 0
	for _, w := range b {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}
