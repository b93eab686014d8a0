package wsserver

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// maxCloseReason is the room for a reason in a close frame: the control
// frame limit less the 2-byte code.
const maxCloseReason = ws.MaxControlFramePayloadSize - 2

// AppendText appends a text frame carrying payload (a whole message, which
// should be valid UTF-8) to dst and returns the extended slice.
func AppendText(dst, payload []byte) []byte {
	return appendFrame(dst, ws.OpText, payload)
}

// AppendPing appends a ping frame to dst. A payload beyond 125 bytes, the
// limit of control frames, is cut to 125 rather than panicking: a ping
// payload is opaque, and a server must not crash on it.
func AppendPing(dst, payload []byte) []byte {
	return appendFrame(dst, ws.OpPing, payload[:min(len(payload), ws.MaxControlFramePayloadSize)])
}

// AppendPong appends a pong frame to dst; the payload is cut to 125 bytes
// like AppendPing's. A pong answering a ping echoes the ping's payload,
// which Next guarantees is short enough.
func AppendPong(dst, payload []byte) []byte {
	return appendFrame(dst, ws.OpPong, payload[:min(len(payload), ws.MaxControlFramePayloadSize)])
}

// AppendClose appends a close frame to dst. The reason is cut to fit the
// 125-byte limit at a UTF-8 boundary, and invalid UTF-8 in it is replaced,
// since a client must fail a connection whose close reason is not UTF-8.
// Code ws.StatusNoStatusRcvd (1005), which must not appear on the wire,
// gives a close frame with an empty body (the reason is dropped): the
// answer to a close that had no code.
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte {
	if code == ws.StatusNoStatusRcvd {
		return appendFrame(dst, ws.OpClose, nil)
	}
	reason = fitReason(reason)
	var body [ws.MaxControlFramePayloadSize]byte
	n := 2 + len(reason)
	ws.PutCloseFrameBody(body[:n], code, reason)
	return appendFrame(dst, ws.OpClose, body[:n])
}

// fitReason makes reason valid UTF-8 of at most maxCloseReason bytes,
// cutting before a rune that would not fit whole.
func fitReason(reason string) string {
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "\uFFFD")
	}
	if len(reason) <= maxCloseReason {
		return reason
	}
	cut := maxCloseReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// AppendTextHeader appends the header of a final text frame whose payload
// is n bytes long, for a caller that encodes the payload straight after it
// instead of into a buffer of its own. The caller must append exactly n
// bytes.
func AppendTextHeader(dst []byte, n int) []byte {
	return appendHeader(dst, ws.OpText, n)
}

// appendFrame appends a final, unmasked frame (servers never mask).
func appendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	dst = slices.Grow(dst, ws.MaxHeaderSize+len(payload))
	return append(appendHeader(dst, op, len(payload)), payload...)
}

// appendHeader appends the header of a final, unmasked frame of n payload
// bytes, with the shortest length encoding (RFC 6455, 5.2).
func appendHeader(dst []byte, op ws.OpCode, n int) []byte {
	first := byte(0x80) | byte(op) // FIN, no extension bits
	switch {
	case n <= 125:
		return append(dst, first, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, first, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, first, 127), uint64(n))
	}
}
