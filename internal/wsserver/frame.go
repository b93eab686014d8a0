package wsserver

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// The frame header is decoded here from the bytes at hand rather than with
// ws.ReadHeader: that one reads from an io.Reader, so on a partial buffer it
// has to start over at every resume, it allocates its buffer on every call,
// and it cannot say how many bytes the header needs before reading them,
// while Next must read no byte past the frame. The checks on the decoded
// header are gobwas's (ws.CheckHeader).

// headerLen is the size of the header whose second byte is b1.
func headerLen(b1 byte) int {
	n := ws.MinHeaderSize
	if b1&0x80 != 0 {
		n += 4 // masking key
	}
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// decodeHeader decodes a whole header; len(b) is headerLen(b[1]).
func decodeHeader(b []byte) (ws.Header, error) {
	h := ws.Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] >> 4) & 0x7, // RSV1 is bit 2, as in ws.Rsv
		OpCode: ws.OpCode(b[0] & 0x0f),
		Masked: b[1]&0x80 != 0,
	}
	rest := b[2:]
	switch n := b[1] & 0x7f; n {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
	case 127:
		n := binary.BigEndian.Uint64(rest)
		if n>>63 != 0 {
			return h, protocolError("payload length has its most significant bit set")
		}
		h.Length = int64(n)
		rest = rest[8:]
	default:
		h.Length = int64(n)
	}
	if h.Masked {
		copy(h.Mask[:], rest)
	}
	return h, nil
}

// check applies the rules a client frame must follow given the message in
// flight, before any of its payload is read.
func (c *Conn) check(h ws.Header) error {
	state := ws.StateServerSide // no extension is ever negotiated
	if c.msgOp != 0 {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return protocolError(err.Error())
	}
	// Refuse an oversized message on its declared length, so that its
	// payload is never buffered.
	if h.OpCode.IsData() && h.Length > int64(c.readLimit)-int64(len(c.msg)) {
		return &CloseError{
			Code:   ws.StatusMessageTooBig,
			Reason: fmt.Sprintf("message larger than %d bytes", c.readLimit),
		}
	}
	return nil
}

// closeEvent decodes the payload of a close frame.
func closeEvent(p []byte) (Event, error) {
	switch len(p) {
	case 0:
		return Event{Kind: Close, Code: ws.StatusNoStatusRcvd}, nil
	case 1:
		return Event{}, protocolError("close frame with a 1-byte payload")
	}
	code, _ := ws.ParseCloseFrameDataUnsafe(p)
	if !wireCloseCode(code) {
		return Event{}, protocolError(fmt.Sprintf("close code %d is not allowed on the wire", code))
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return Event{}, &CloseError{Code: ws.StatusInvalidFramePayloadData, Reason: "close reason is not valid UTF-8"}
	}
	return Event{Kind: Close, Code: code, Payload: reason}, nil
}

// wireCloseCode reports whether a peer may put code in a close frame. It is
// spelled out here rather than left to ws.CheckCloseFrameData, which refuses
// 1012-1014 (registered with IANA after RFC 6455, and sent by
// coder/websocket, the library of our own Go SDK) and lets codes from 5000
// up through, which no registry defines.
func wireCloseCode(code ws.StatusCode) bool {
	switch {
	case code.IsApplicationSpec(), code.IsPrivateSpec(): // 3000-4999
		return true
	case code >= 1012 && code <= 1014: // service restart, try again later, bad gateway
		return true
	default:
		return code.IsProtocolDefined() && !code.IsProtocolReserved()
	}
}
