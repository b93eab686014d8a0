package ice

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawTURN is a minimal TURN client written for these tests, so that they
// can send exactly the bytes an attacker would: a peer address encoded as
// IPv6 even when it is IPv4-mapped, a Connect to any address, requests with
// tampered credentials. It speaks over UDP or TCP.
type rawTURN struct {
	t         testing.TB
	conn      net.Conn
	stream    bool
	username  string
	password  string
	realm     string
	nonce     string
	integrity stun.MessageIntegrity
	pending   []*stun.Message // indications read while waiting for a response
}

func dialRawTURN(t testing.TB, network string, server net.Addr, username, password string) *rawTURN {
	t.Helper()
	conn, err := net.Dial(network, server.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawTURN{t: t, conn: conn, stream: network != "udp", username: username, password: password}
}

// attr is a raw STUN attribute.
type attr struct {
	typ stun.AttrType
	val []byte
}

func (a attr) AddTo(m *stun.Message) error {
	m.Add(a.typ, a.val)
	return nil
}

func requestedTransport(proto byte) attr {
	return attr{stun.AttrRequestedTransport, []byte{proto, 0, 0, 0}}
}

func requestedFamily(v6 bool) attr {
	family := byte(1)
	if v6 {
		family = 2
	}
	return attr{stun.AttrRequestedAddressFamily, []byte{family, 0, 0, 0}}
}

// peerAddr is an XOR-PEER-ADDRESS with an explicit family: ip is written
// as given (16 bytes for family 2, even for ::ffff:a.b.c.d).
type peerAddr struct {
	ip     net.IP
	port   int
	family byte
}

func (p peerAddr) AddTo(m *stun.Message) error {
	ip := p.ip.To16()
	if p.family == 1 {
		ip = p.ip.To4()
	}
	value := make([]byte, 4+len(ip))
	value[1] = p.family
	binary.BigEndian.PutUint16(value[2:], uint16(p.port)^uint16(stunMagicCookie>>16)) //nolint:gosec // test port
	key := make([]byte, 16)
	binary.BigEndian.PutUint32(key, stunMagicCookie)
	copy(key[4:], m.TransactionID[:])
	for i := range ip {
		value[4+i] = ip[i] ^ key[i]
	}
	m.Add(stun.AttrXORPeerAddress, value)
	return nil
}

// v4 and v6 build peer addresses of each family.
func v4(ip string, port int) peerAddr { return peerAddr{net.ParseIP(ip), port, 1} }
func v6(ip string, port int) peerAddr { return peerAddr{net.ParseIP(ip), port, 2} }

// request sends one request and returns the response, doing the 401 nonce
// exchange on the first authenticated request.
func (c *rawTURN) request(method stun.Method, setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	for try := 0; ; try++ {
		sentCredentials := c.nonce != ""
		res := c.roundTrip(method, setters)
		code := errorCode(res)
		// A 401 to a request that carried the credentials refuses them
		// (RFC 8489 9.2.5): asking again would only be refused again.
		if ((code == 401 && !sentCredentials) || code == 438) && try < 2 {
			var realm stun.Realm
			var nonce stun.Nonce
			_ = realm.GetFrom(res)
			_ = nonce.GetFrom(res)
			c.realm, c.nonce = realm.String(), nonce.String()
			c.integrity = stun.NewLongTermIntegrity(c.username, c.realm, c.password)
			continue
		}
		return res
	}
}

func (c *rawTURN) roundTrip(method stun.Method, setters []stun.Setter) *stun.Message {
	c.t.Helper()
	all := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	all = append(all, setters...)
	if c.nonce != "" {
		all = append(all, stun.NewUsername(c.username), stun.NewRealm(c.realm), stun.NewNonce(c.nonce), c.integrity)
	}
	all = append(all, stun.Fingerprint)
	req := stun.MustBuild(all...)
	c.write(req.Raw)
	for {
		res, err := c.read(5 * time.Second)
		if err != nil {
			c.t.Fatalf("%s: %v", method, err)
		}
		if res.TransactionID == req.TransactionID {
			return res
		}
		c.pending = append(c.pending, res)
	}
}

// indication sends a Send indication (no response).
func (c *rawTURN) send(peer peerAddr, data []byte) {
	c.t.Helper()
	m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication), peer,
		attr{stun.AttrData, data}, stun.Fingerprint)
	c.write(m.Raw)
}

func (c *rawTURN) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next STUN message from the server.
func (c *rawTURN) read(timeout time.Duration) (*stun.Message, error) {
	if len(c.pending) > 0 {
		m := c.pending[0]
		c.pending = c.pending[1:]
		return m, nil
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	var raw []byte
	if c.stream {
		head := make([]byte, 20)
		if _, err := io.ReadFull(c.conn, head); err != nil {
			return nil, err
		}
		body := make([]byte, binary.BigEndian.Uint16(head[2:4]))
		if _, err := io.ReadFull(c.conn, body); err != nil {
			return nil, err
		}
		raw = append(head, body...)
	} else {
		buf := make([]byte, 2048)
		n, err := c.conn.Read(buf)
		if err != nil {
			return nil, err
		}
		raw = buf[:n]
	}
	m := &stun.Message{Raw: raw}
	if err := m.Decode(); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return m, nil
}

// readData waits for a Data indication and returns its payload.
func (c *rawTURN) readData(timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if m.Type == stun.NewType(stun.MethodData, stun.ClassIndication) {
			v, err := m.Get(stun.AttrData)
			return v, err
		}
	}
	return nil, errors.New("no data indication")
}

func errorCode(m *stun.Message) int {
	if m.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(m); err != nil {
		return -1
	}
	return int(ec.Code)
}

// allocate makes an allocation and returns the relayed address.
func (c *rawTURN) allocate(proto byte, v6 bool) (*net.UDPAddr, int) {
	c.t.Helper()
	setters := []stun.Setter{requestedTransport(proto)}
	if v6 {
		setters = append(setters, requestedFamily(true))
	}
	res := c.request(stun.MethodAllocate, setters...)
	if code := errorCode(res); code != 0 {
		return nil, code
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		c.t.Fatal(err)
	}
	return &net.UDPAddr{IP: relayed.IP, Port: relayed.Port}, 0
}

func (c *rawTURN) createPermission(peer peerAddr) int {
	c.t.Helper()
	return errorCode(c.request(stun.MethodCreatePermission, peer))
}

func (c *rawTURN) channelBind(number uint16, peer peerAddr) int {
	c.t.Helper()
	return errorCode(c.request(stun.MethodChannelBind, attr{stun.AttrChannelNumber, []byte{byte(number >> 8), byte(number), 0, 0}}, peer))
}

func (c *rawTURN) connect(peer peerAddr) int {
	c.t.Helper()
	return errorCode(c.request(stun.MethodConnect, peer))
}

func (c *rawTURN) refresh(lifetime time.Duration) int {
	c.t.Helper()
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, uint32(lifetime/time.Second)) //nolint:gosec // test lifetime
	return errorCode(c.request(stun.MethodRefresh, attr{stun.AttrLifetime, v}))
}
