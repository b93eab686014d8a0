package ice

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/switchboard-rtc/switchboard/internal/ice/icetest"
)

// closeWait is how long a test waits for the server to drop a connection
// whose configured timeout is a fraction of a second: generous, so that a
// loaded machine cannot fail the test, and far below the defaults, so
// that only the timeout under test can have closed it.
const closeWait = 10 * time.Second

// withFirstMessage, withAnonymousIdle and withIdle shorten the service's
// stream timeouts. The first-message window is kept apart from the
// handshake timeout so that shortening it never shortens the time a TLS
// handshake has on a loaded machine.
func withFirstMessage(d time.Duration) func(*Service) {
	return func(s *Service) { s.firstMessageTimeout = d }
}
func withAnonymousIdle(d time.Duration) func(*Service) {
	return func(s *Service) { s.anonymousIdle = d }
}
func withIdle(d time.Duration) func(*Service) { return func(s *Service) { s.streamIdle = d } }

func withCaps(total, perIP int) func(*Config) {
	return func(c *Config) { c.MaxTCPConnections, c.MaxTCPConnectionsPerIP = total, perIP }
}

// expectClosed fails unless the server closes c within closeWait. Bytes
// the server sends first are skipped.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(closeWait))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		var ne net.Error
		switch {
		case err == nil:
			continue
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("%s: still open after %s", what, closeWait)
		}
		return
	}
}

// expectOpen fails unless a Binding request on c is answered.
func expectOpen(t *testing.T, c net.Conn, what string) {
	t.Helper()
	raw := &rawTURN{t: t, conn: c, stream: true}
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	res, err := raw.read(closeWait)
	if err != nil {
		t.Fatalf("%s: no Binding response: %v", what, err)
	}
	if res.Type != stun.BindingSuccess || res.TransactionID != req.TransactionID {
		t.Fatalf("%s: got %v, want a Binding success", what, res.Type)
	}
}

// dialFrom opens a TCP connection from a chosen loopback address (Linux
// routes all of 127.0.0.0/8 to lo), so that one test can act as several
// client IPs.
func dialFrom(t *testing.T, src string, dst net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: closeWait}
	c, err := d.Dial("tcp", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: closeWait}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// stunHeader is a STUN Binding request header announcing a body of n
// bytes.
func stunHeader(n uint16) []byte {
	h := make([]byte, stunHeaderSize)
	binary.BigEndian.PutUint16(h[0:2], uint16(stun.MethodBinding))
	binary.BigEndian.PutUint16(h[2:4], n)
	binary.BigEndian.PutUint32(h[4:8], stunMagicCookie)
	return h
}

// TestStreamFirstMessageDeadline checks that a TURN connection that never
// completes a first message is closed once the first-message window
// passes: over TCP, over TLS after its handshake, and on the HTTPS port.
// Both idle timeouts stay at their defaults of a minute and more, so a
// connection wrongly taken as started would stay open and fail the test.
// The window is a second (the handshake timeout keeps its default), and
// the subtests run in parallel so that they wait for it together.
func TestStreamFirstMessageDeadline(t *testing.T) {
	h := startService(t, testConfig(), withFirstMessage(time.Second))
	addrs := h.svc.Addrs()
	s := startSplit(t)
	for _, tc := range []struct {
		name, what string
		dial       func(t *testing.T) net.Conn
		send       []byte
	}{
		{"tcp silent", "a silent TCP connection", func(t *testing.T) net.Conn { return dialFrom(t, "127.0.0.1", addrs.TCP) }, nil},
		{"tcp partial header", "a TCP connection that sent 3 bytes", func(t *testing.T) net.Conn { return dialFrom(t, "127.0.0.1", addrs.TCP) }, stunHeader(8)[:3]},
		{"tcp header without its body", "a TCP connection that sent a header announcing 64 more bytes", func(t *testing.T) net.Conn { return dialFrom(t, "127.0.0.1", addrs.TCP) }, stunHeader(64)},
		// pion/turn before v5.1.3 added the 4-byte header to this length in
		// 16 bits, got a frame of 0 bytes, and spun on it for ever without
		// reading again, so no deadline could end it.
		{"tcp ChannelData announcing 65,532 bytes", "a TCP connection that sent a ChannelData header announcing 65,532 bytes",
			func(t *testing.T) net.Conn { return dialFrom(t, "127.0.0.1", addrs.TCP) },
			[]byte{0x40, 0x00, 0xff, 0xfc, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"tls silent after the handshake", "a silent TLS connection", func(t *testing.T) net.Conn {
			return dialTLS(t, addrs.TLS.String(), &tls.Config{RootCAs: h.pool})
		}, nil},
		{"https port silent after ALPN stun.turn", "a silent TURN connection on the HTTPS port", func(t *testing.T) net.Conn {
			return dialTLS(t, s.addr, &tls.Config{RootCAs: s.pool, NextProtos: []string{ALPNProtocol}})
		}, nil},
		{"https port header without its body", "a TURN connection on the HTTPS port that sent a header only", func(t *testing.T) net.Conn {
			return dialTLS(t, s.addr, &tls.Config{RootCAs: s.pool})
		}, stunHeader(64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.dial(t)
			if tc.send != nil {
				_, _ = c.Write(tc.send)
			}
			expectClosed(t, c, tc.what)
		})
	}
}

// stunFrame is a STUN Binding request of size bytes in all, with a body
// of zeros.
func stunFrame(size int) []byte {
	return append(stunHeader(uint16(size-stunHeaderSize)), make([]byte, size-stunHeaderSize)...) //nolint:gosec // test sizes
}

// TestStreamFrameLargerThanPionBuffer pins what pion v5.1.3 does with a
// stream frame that does not fit its 1600-byte read buffer: it ends the
// connection (v5.1.0 dropped the frame and read on), deleting the
// allocation, so the slot and the allocation must be given back. A frame
// of exactly 1600 bytes is still dropped and the connection read on. The
// timeouts are an hour, so only pion can have closed a connection.
func TestStreamFrameLargerThanPionBuffer(t *testing.T) {
	h := startService(t, testConfig(), withFirstMessage(time.Hour), withAnonymousIdle(time.Hour))
	addrs := h.svc.Addrs()
	user, pass := h.credentials(t, testARN, "big-frames")

	c := dialFrom(t, "127.0.0.1", addrs.TCP)
	if _, err := c.Write(stunFrame(1600)); err != nil {
		t.Fatal(err)
	}
	expectOpen(t, c, "a connection whose first frame was 1600 bytes")

	first := dialFrom(t, "127.0.0.1", addrs.TCP)
	if _, err := first.Write(stunFrame(1604)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, first, "a connection whose first frame was 1604 bytes")

	allocated := dialFrom(t, "127.0.0.1", addrs.TCP)
	raw := &rawTURN{t: t, conn: allocated, stream: true, username: user, password: pass}
	if _, code := raw.allocate(17, false); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	if _, err := allocated.Write(stunFrame(2000)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, allocated, "an allocating connection that sent a 2000-byte frame")
	waitFor(t, closeWait, "the slots and the allocation to be given back", func() bool {
		return h.svc.streams.liveCount() == 1 && h.svc.streamIndex.len() == 1 &&
			h.counter(t, "switchboard_turn_allocations") == 0
	})
}

// TestPionCapsAllocationLifetime pins what maxAllocationLifetime mirrors,
// on which defaultStreamIdle rests: pion v5.1.3 grants a requested
// lifetime under an hour as asked, and replaces an hour or more, in an
// Allocate or a Refresh, by its 10-minute default.
func TestPionCapsAllocationLifetime(t *testing.T) {
	h := startService(t, testConfig())
	user, pass := h.credentials(t, testARN, "long-lived")
	c := dialRawTURN(t, "tcp", h.svc.Addrs().TCP, user, pass)
	lifetime := func(d time.Duration) attr {
		v := make([]byte, 4)
		binary.BigEndian.PutUint32(v, uint32(d/time.Second)) //nolint:gosec // test lifetimes
		return attr{stun.AttrLifetime, v}
	}
	granted := func(res *stun.Message) time.Duration {
		t.Helper()
		v, err := res.Get(stun.AttrLifetime)
		if code := errorCode(res); code != 0 || err != nil || len(v) != 4 {
			t.Fatalf("error %d, lifetime %v (%v)", code, v, err)
		}
		return time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	const justUnder = maxAllocationLifetime - time.Second
	if got := granted(c.request(stun.MethodAllocate, requestedTransport(17), lifetime(2*time.Hour))); got != 10*time.Minute {
		t.Fatalf("Allocate asking 2h: granted %s, want 10m", got)
	}
	for _, asked := range []time.Duration{justUnder, maxAllocationLifetime, 100 * time.Hour} {
		want := 10 * time.Minute
		if asked < maxAllocationLifetime {
			want = asked
		}
		if got := granted(c.request(stun.MethodRefresh, lifetime(asked))); got != want {
			t.Fatalf("Refresh asking %s: granted %s, want %s", asked, got, want)
		}
	}
}

// TestStreamIdleTimeout checks the last stage: a connection that made an
// authenticated request lives until it has been silent for the idle
// timeout. The anonymous idle timeout keeps its default of a minute, so
// the connection closes in time only if its Allocate moved it on.
func TestStreamIdleTimeout(t *testing.T) {
	h := startService(t, testConfig(), withIdle(300*time.Millisecond))
	addrs := h.svc.Addrs()
	s := startSplit(t, withIdle(300*time.Millisecond))
	for _, tc := range []struct {
		name string
		h    *harness
		dial func(t *testing.T) net.Conn
	}{
		{"tcp", h, func(t *testing.T) net.Conn { return dialFrom(t, "127.0.0.1", addrs.TCP) }},
		{"tls", h, func(t *testing.T) net.Conn { return dialTLS(t, addrs.TLS.String(), &tls.Config{RootCAs: h.pool}) }},
		{"https port", s.harness, func(t *testing.T) net.Conn {
			return dialTLS(t, s.addr, &tls.Config{RootCAs: s.pool, NextProtos: []string{ALPNProtocol}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := tc.h.credentials(t, testARN, "idle")
			c := tc.dial(t)
			raw := &rawTURN{t: t, conn: c, stream: true, username: user, password: pass}
			if _, code := raw.allocate(17, false); code != 0 {
				t.Fatalf("allocate: %d", code)
			}
			expectClosed(t, c, "an idle authenticated "+tc.name+" connection")
		})
	}
	for _, h := range []*harness{h, s.harness} {
		waitFor(t, closeWait, "connection slots to be given back", func() bool { return h.svc.streams.liveCount() == 0 })
		waitFor(t, closeWait, "the connections to leave the index", func() bool { return h.svc.streamIndex.len() == 0 })
	}
}

// TestStreamAnonymousIdle checks the middle stage: until a connection
// makes a request with valid credentials, a short silence closes it,
// whatever it sent before; one that authenticated outlives that. The
// long idle timeout keeps its default of over an hour, so only the
// anonymous one can close a connection here.
func TestStreamAnonymousIdle(t *testing.T) {
	const anonymous = time.Second
	h := startService(t, testConfig(), withAnonymousIdle(anonymous))
	addrs := h.svc.Addrs()
	user, pass := h.credentials(t, testARN, "anonymous")
	dials := []struct {
		network string
		dial    func(t *testing.T) net.Conn
	}{
		{"tcp", func(t *testing.T) net.Conn { return dialFrom(t, "127.0.0.1", addrs.TCP) }},
		{"tls", func(t *testing.T) net.Conn { return dialTLS(t, addrs.TLS.String(), &tls.Config{RootCAs: h.pool}) }},
	}
	for _, d := range dials {
		t.Run(d.network, func(t *testing.T) {
			t.Parallel()
			t.Run("binding only", func(t *testing.T) {
				t.Parallel()
				c := d.dial(t)
				expectOpen(t, c, "a new connection")
				expectClosed(t, c, "a connection that only sent a Binding")
			})
			t.Run("zero-length ChannelData", func(t *testing.T) {
				t.Parallel()
				c := d.dial(t)
				// 9 bytes: pion frames nothing shorter. It drops the
				// message (no channel is bound), so nothing answers.
				if _, err := c.Write([]byte{0x40, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00}); err != nil {
					t.Fatal(err)
				}
				expectClosed(t, c, "a connection that only sent an empty ChannelData")
			})
			t.Run("allocate without credentials", func(t *testing.T) {
				t.Parallel()
				c := d.dial(t)
				raw := &rawTURN{t: t, conn: c, stream: true}
				if code := errorCode(raw.roundTrip(stun.MethodAllocate, []stun.Setter{requestedTransport(17)})); code != 401 {
					t.Fatalf("an Allocate without credentials: %d, want 401", code)
				}
				expectClosed(t, c, "a connection whose Allocate was refused 401")
			})
			t.Run("allocate with a wrong password", func(t *testing.T) {
				t.Parallel()
				c := d.dial(t)
				raw := &rawTURN{t: t, conn: c, stream: true, username: user, password: pass + "x"}
				if _, code := raw.allocate(17, false); code == 0 {
					t.Fatal("an Allocate with a wrong password succeeded")
				}
				expectClosed(t, c, "a connection whose credentials failed")
			})
			t.Run("allocate", func(t *testing.T) {
				t.Parallel()
				c := d.dial(t)
				raw := &rawTURN{t: t, conn: c, stream: true, username: user, password: pass}
				if _, code := raw.allocate(17, false); code != 0 {
					t.Fatalf("allocate: %d", code)
				}
				time.Sleep(3 * anonymous)
				expectOpen(t, c, "a connection that allocated, after three anonymous idle timeouts")
			})
		})
	}
}

// len returns the number of indexed connections.
func (x *streamIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.conns)
}

// liveCount returns the number of connections holding a slot.
func (c *streamCaps) liveCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// TestStreamFirstMessageLiftsDeadline runs pion TURN clients over TCP and
// TLS with a first-message window and an anonymous idle timeout of a
// second each, waits well past both, then relays: the Allocate must have
// lifted the first and moved the connection past the second.
func TestStreamFirstMessageLiftsDeadline(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed), withFirstMessage(time.Second), withAnonymousIdle(time.Second))
	addrs := h.svc.Addrs()
	user, pass := h.credentials(t, testARN, "patient")
	for _, tc := range []struct {
		network string
		server  net.Addr
	}{{"tcp", addrs.TCP}, {"tls", addrs.TLS}} {
		t.Run(tc.network, func(t *testing.T) {
			t.Parallel()
			client := icetest.TURNClient(t, tc.network, tc.server.String(), &tls.Config{RootCAs: h.pool}, user, pass, pionLoggers{log: testLogger(t)})
			relay, err := client.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			time.Sleep(3 * time.Second) // three windows of each kind
			peer := newUDPPeer(t, true)
			if _, err := relay.WriteTo([]byte("still here"), peer.addr()); err != nil {
				t.Fatal(err)
			}
			_ = relay.SetReadDeadline(time.Now().Add(closeWait))
			buf := make([]byte, 64)
			n, _, err := relay.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "still here" {
				t.Fatalf("echo through the relay: %q %v", buf[:n], err)
			}
		})
	}
}

// TestStreamConnectionCaps fills the per-IP cap from 127.0.0.1 and the
// total cap from 127.0.0.2, over TCP and TLS, and checks that refusals are
// counted per reason and that a closed connection frees its slot.
func TestStreamConnectionCaps(t *testing.T) {
	h := startService(t, testConfig(withCaps(3, 2)))
	addrs := h.svc.Addrs()
	first := dialFrom(t, "127.0.0.1", addrs.TCP)
	expectOpen(t, first, "1st connection from 127.0.0.1")
	expectOpen(t, dialTLS(t, addrs.TLS.String(), &tls.Config{RootCAs: h.pool}), "2nd connection from 127.0.0.1 (TLS)")
	expectClosed(t, dialFrom(t, "127.0.0.1", addrs.TCP), "3rd connection from 127.0.0.1")
	if _, err := tls.DialWithDialer(&net.Dialer{Timeout: closeWait}, "tcp", addrs.TLS.String(), &tls.Config{RootCAs: h.pool}); err == nil {
		t.Fatal("a TLS handshake over the per-IP cap succeeded")
	}
	expectOpen(t, dialFrom(t, "127.0.0.2", addrs.TCP), "1st connection from 127.0.0.2")
	expectClosed(t, dialFrom(t, "127.0.0.3", addrs.TCP), "a connection over the total cap")

	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reasonConnLimitPerIP); got != 2 {
		t.Errorf("%v per-IP refusals counted, want 2", got)
	}
	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reasonConnLimit); got != 1 {
		t.Errorf("%v total-cap refusals counted, want 1", got)
	}
	_ = first.Close()
	waitFor(t, closeWait, "the closed connection's slot", func() bool { return h.svc.streams.liveCount() == 2 })
	expectOpen(t, dialFrom(t, "127.0.0.1", addrs.TCP), "a connection after one closed")
}

// TestStreamConnectionCapsOnHTTPSPort checks that TURN connections found on
// the HTTPS port count against the caps, and HTTPS requests do not.
func TestStreamConnectionCapsOnHTTPSPort(t *testing.T) {
	s := startSplit(t, withCaps(0, 1))
	turnTLS := &tls.Config{RootCAs: s.pool, NextProtos: []string{ALPNProtocol}}
	expectOpen(t, dialTLS(t, s.addr, turnTLS), "1st TURN connection on the HTTPS port")
	expectClosed(t, dialTLS(t, s.addr, turnTLS), "2nd TURN connection on the HTTPS port")
	if got := s.counter(t, "switchboard_turn_refusals_total", "reason", reasonConnLimitPerIP); got != 1 {
		t.Errorf("%v per-IP refusals counted, want 1", got)
	}
	web := dialTLS(t, s.addr, &tls.Config{RootCAs: s.pool, NextProtos: []string{"http/1.1"}})
	if _, err := web.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = web.SetReadDeadline(time.Now().Add(closeWait))
	if _, err := web.Read(make([]byte, 64)); err != nil {
		t.Fatalf("an HTTPS request over the TURN cap: %v", err)
	}
}

func TestStreamCapsCount(t *testing.T) {
	caps := newStreamCaps(3, 2)
	a := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}
	b := &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 1}
	r1, reason := caps.admit(a)
	if reason != "" {
		t.Fatal(reason)
	}
	if _, reason := caps.admit(a); reason != "" {
		t.Fatal(reason)
	}
	if _, reason := caps.admit(a); reason != reasonConnLimitPerIP {
		t.Fatalf("3rd from one IP: %q", reason)
	}
	if _, reason := caps.admit(b); reason != "" {
		t.Fatal(reason)
	}
	if _, reason := caps.admit(b); reason != reasonConnLimit {
		t.Fatalf("4th in total: %q", reason)
	}
	r1()
	r1() // a second release gives nothing more back
	if got := caps.liveCount(); got != 2 {
		t.Fatalf("%d live after one release, want 2", got)
	}
	if _, reason := caps.admit(b); reason != "" {
		t.Fatalf("after a release: %q", reason)
	}
	if _, reason := newStreamCaps(0, 0).admit(a); reason != "" {
		t.Fatalf("no caps: %q", reason)
	}
}

// TestDecrement checks the count helper that the connection caps and the
// allocation quotas share: a key leaves the map with its last count, so
// that the maps hold live sources and credentials only.
func TestDecrement(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	bySource := map[netip.Addr]int{ip: 2}
	decrement(bySource, ip)
	if bySource[ip] != 1 {
		t.Fatalf("after one decrement: %v", bySource)
	}
	decrement(bySource, ip)
	decrement(bySource, netip.MustParseAddr("192.0.2.2")) // never counted
	if len(bySource) != 0 {
		t.Fatalf("after the last decrement: %v", bySource)
	}

	caps := newStreamCaps(0, 0)
	a := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}
	r1, _ := caps.admit(a)
	r2, _ := caps.admit(a)
	r1()
	r2()
	if len(caps.bySource) != 0 || caps.liveCount() != 0 {
		t.Fatalf("caps after every release: %d live, sources %v", caps.liveCount(), caps.bySource)
	}
}

func TestSourceKey(t *testing.T) {
	key := func(s string) netip.Addr { return sourceKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s))) }
	cases := []struct{ a, b string }{
		{"[::ffff:192.0.2.1]:1", "192.0.2.1:2"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2"},
		{"[fe80::1%eth0]:1", "[fe80::2]:2"},
	}
	for _, c := range cases {
		if key(c.a) != key(c.b) {
			t.Errorf("%s and %s count apart: %v, %v", c.a, c.b, key(c.a), key(c.b))
		}
	}
	if key("[2001:db8:1:2::1]:1") == key("[2001:db8:1:3::1]:1") {
		t.Error("two IPv6 /64s count together")
	}
	if key("192.0.2.1:1") == key("192.0.2.2:1") {
		t.Error("two IPv4 addresses count together")
	}
}

// TestFirstMessageFraming feeds first messages in chunks, as pion would
// read them, and checks that the message is complete exactly when pion
// would have framed it.
func TestFirstMessageFraming(t *testing.T) {
	channel := func(n uint16) []byte { return []byte{0x40, 0x00, byte(n >> 8), byte(n)} }
	withCookie := func(b []byte) []byte {
		b = append(b, make([]byte, 16)...)
		binary.BigEndian.PutUint32(b[4:8], stunMagicCookie)
		return b
	}
	cases := []struct {
		name   string
		msg    []byte
		chunks []int // read sizes
		done   int   // index of the chunk that completes it, the last one; -1: never
	}{
		{"STUN, no attributes, one byte at a time", stunHeader(0), ones(20), 19},
		{"STUN with a body in two reads", stunHeader(100), []int{20, 100}, 1},
		{"STUN header without its body", stunHeader(100), []int{20, 50}, -1},
		{"ChannelData padded to 4", channel(5), []int{4, 8}, 1},
		{"short ChannelData waits for 9 bytes, as pion does", channel(0), []int{4, 4, 1}, 2},
		{"ChannelData header with a cookie is STUN once 20 bytes are in", withCookie(channel(40)), []int{20, 30, 10}, 2},
		// pion v5.1.3 sizes frames in 32 bits: these end where the
		// lengths say, not at 0 as 16 bits would wrap them.
		{"ChannelData announcing 65,535 bytes, padded", append(channel(0xffff), make([]byte, 65536)...), []int{4, 65535, 1}, 2},
		{"STUN announcing 65,535 bytes", append(stunHeader(0xffff), make([]byte, 65535)...), []int{20, 65534, 1}, 2},
		{"no TURN", []byte{0x80, 0, 0, 0}, []int{4, 20, 100}, -1},
		{"STUN-like bytes without the cookie", []byte{0, 1, 0, 0}, []int{4, 20, 100}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := append(append([]byte{}, c.msg...), make([]byte, 200)...)
			var f firstMessage
			at := 0
			for i, n := range c.chunks {
				if done := f.feed(msg[at : at+n]); done != (i == c.done) {
					t.Fatalf("after chunk %d (%d bytes in all): done=%v", i, at+n, done)
				}
				at += n
			}
		})
	}
}

func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// deadlineRecorder is a net.Conn whose reads return scripted bytes and
// whose read deadlines are recorded.
type deadlineRecorder struct {
	net.Conn
	mu       sync.Mutex
	deadline time.Time
	next     []byte
}

func (c *deadlineRecorder) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

func (c *deadlineRecorder) Read(p []byte) (int, error) { return copy(p, c.next), nil }
func (c *deadlineRecorder) Write(p []byte) (int, error) {
	return len(p), nil
}

func (c *deadlineRecorder) get() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline
}

// within fails unless the recorded deadline lies in [from+d, to+d].
func (c *deadlineRecorder) within(t *testing.T, what string, from, to time.Time, d time.Duration) {
	t.Helper()
	if got := c.get(); got.Before(from.Add(d)) || got.After(to.Add(d)) {
		t.Fatalf("%s: deadline %v, want between %v and %v", what, got, from.Add(d), to.Add(d))
	}
}

// TestDeadlineConnStages drives deadlineConn by hand: nothing is set
// before pion accepts the connection; from then the first-message deadline
// holds through a partial message and writes; the complete message
// switches to the anonymous idle deadline, an authenticated request to the
// long one; and later reads and writes push that back, though not more
// than once per idle/deadlineSteps.
func TestDeadlineConnStages(t *testing.T) {
	const first, anonymous, idle = time.Minute, 10 * time.Minute, 6400 * time.Millisecond
	const step = idle / deadlineSteps // 100ms
	raw := &deadlineRecorder{}
	c := newDeadlineConn(raw, first, anonymous, idle)
	if !raw.get().IsZero() {
		t.Fatal("a deadline was set before pion accepted the connection")
	}
	before := time.Now()
	c.accepted()
	raw.within(t, "at accept", before, time.Now(), first)
	initial := raw.get()

	msg := stunHeader(4)
	buf := make([]byte, 64)
	raw.next = msg[:10]
	_, _ = c.Read(buf)
	_, _ = c.Write([]byte("a reply before the first message is complete"))
	if raw.get() != initial {
		t.Fatal("a partial first message or a write moved the first-message deadline")
	}
	raw.next = append(msg[10:], 0, 0, 0, 0)
	before = time.Now()
	_, _ = c.Read(buf)
	raw.within(t, "after the first message", before, time.Now(), anonymous)

	before = time.Now()
	c.authenticated()
	raw.within(t, "after an authenticated request", before, time.Now(), idle)

	started := raw.get()
	raw.next = []byte{1}
	_, _ = c.Read(buf)
	// Only meaningful when this ran within one step; a stalled machine
	// skips it rather than fail.
	if time.Since(before) < step && raw.get() != started {
		t.Fatal("a read right after an extension moved the deadline again")
	}
	for _, op := range []struct {
		name string
		do   func()
	}{
		{"read", func() { _, _ = c.Read(buf) }},
		{"write", func() { _, _ = c.Write([]byte("x")) }},
	} {
		time.Sleep(2 * step)
		before = time.Now()
		op.do()
		raw.within(t, "after a later "+op.name, before, time.Now(), idle)
	}
}

// TestFirstMessageWindowStartsAtAccept queues a silent stream connection
// for longer than its first-message window before pion's side accepts it,
// as happens when pion is slow to accept from the TLS or HTTPS-port queue:
// its read must still wait the whole window from the accept on.
func TestFirstMessageWindowStartsAtAccept(t *testing.T) {
	const window = time.Second
	server, client := net.Pipe()
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	queue := newConnQueue(&net.TCPAddr{})
	ln := newTrackedListener(queue, func() {}, nil, testLogger(t))
	t.Cleanup(func() { _ = ln.Close() })
	go queue.push(newDeadlineConn(server, window, time.Hour, time.Hour), closeWait)
	time.Sleep(window + window/2) // in the queue, past the window
	accepted := time.Now()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 64))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a silent connection: %v, want a timeout", err)
	}
	if waited := time.Since(accepted); waited < window-window/10 {
		t.Fatalf("the window closed %s after the accept, want %s", waited, window)
	}
}
