// Package tlsidle gives back the read buffers that a crypto/tls server
// connection keeps for its whole life.
//
// A *tls.Conn grows two buffers while it reads its peer's ClientHello: the
// record buffer and the handshake-message buffer. Neither ever shrinks
// (golang/go#43563, still open in Go 1.26). A post-quantum ClientHello is
// about 1.5 KB, so an idle connection keeps about 3.5 KiB of empty buffer
// space, half of its live heap, and the collector's headroom doubles that in
// resident memory. crypto/tls has no API to drop them (golang/go#81348
// asks for one), so Release does it from outside.
//
// Release reaches three unexported fields of tls.Conn. It finds them once,
// by name and exact type, through reflection; when this Go version lays the
// struct out differently it finds nothing and Release does nothing
// (Supported reports which). It drops the buffers only when they hold no
// byte, while it holds the connection's read lock, which tls.Conn.Read
// holds for as long as it runs; so it never loses data and never races a
// read. The next read allocates a buffer sized for what actually arrives.
package tlsidle

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"sync"
	"unsafe"
)

// layout is where the read-side fields sit inside tls.Conn.
type layout struct {
	readLock uintptr // the sync.Mutex that opens tls.Conn.in
	rawInput uintptr // bytes.Buffer: received records, encrypted
	input    uintptr // bytes.Reader: decrypted application data, inside rawInput
	hand     uintptr // bytes.Buffer: handshake messages
}

var (
	fields layout
	found  = locate(reflect.TypeFor[tls.Conn](), &fields)
)

// locate fills l from t's fields and reports whether every one of them has
// the exact type Release relies on.
func locate(t reflect.Type, l *layout) bool {
	in, ok := t.FieldByName("in")
	if !ok || in.Type.Kind() != reflect.Struct || in.Type.NumField() == 0 {
		return false
	}
	lock := in.Type.Field(0)
	if !lock.Anonymous || lock.Type != reflect.TypeFor[sync.Mutex]() || lock.Offset != 0 {
		return false
	}
	l.readLock = in.Offset
	for _, f := range []struct {
		name string
		typ  reflect.Type
		off  *uintptr
	}{
		{"rawInput", reflect.TypeFor[bytes.Buffer](), &l.rawInput},
		{"input", reflect.TypeFor[bytes.Reader](), &l.input},
		{"hand", reflect.TypeFor[bytes.Buffer](), &l.hand},
	} {
		sf, ok := t.FieldByName(f.name)
		if !ok || sf.Type != f.typ || len(sf.Index) != 1 {
			return false
		}
		*f.off = sf.Offset
	}
	return true
}

// Supported reports whether Release can work with this build's crypto/tls.
func Supported() bool { return found }

// Release drops c's empty read buffers and reports whether it did. It
// does nothing when this Go version's tls.Conn is not the one Release
// knows, when a read is under way (it would have to wait for the read
// lock), or when any of the buffers holds bytes not yet consumed.
func Release(c *tls.Conn) bool {
	if !found || c == nil {
		return false
	}
	base := unsafe.Pointer(c)
	lock := (*sync.Mutex)(unsafe.Add(base, fields.readLock))
	if !lock.TryLock() {
		return false
	}
	defer lock.Unlock()
	rawInput := (*bytes.Buffer)(unsafe.Add(base, fields.rawInput))
	input := (*bytes.Reader)(unsafe.Add(base, fields.input))
	hand := (*bytes.Buffer)(unsafe.Add(base, fields.hand))
	if rawInput.Len() != 0 || input.Len() != 0 || hand.Len() != 0 {
		return false
	}
	*rawInput = bytes.Buffer{}
	input.Reset(nil) // it points into rawInput's old buffer
	*hand = bytes.Buffer{}
	return true
}
