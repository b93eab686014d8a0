package icetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/proxy"
)

// Peer is how one side reaches the relay.
type Peer struct {
	// ICEServers are given to the peer connection as they are.
	ICEServers []webrtc.ICEServer
	// Dialer, when set, opens the TCP connections to TURN servers (pion
	// then uses them as they are: pass TLSDialer for turns: URIs signed by
	// a test CA).
	Dialer proxy.Dialer
}

// Result describes a finished exchange.
type Result struct {
	Bytes   int
	Elapsed time.Duration
	// Local candidates of the selected pairs, offerer then answerer.
	OffererCandidate, AnswererCandidate webrtc.ICECandidate
}

const (
	chunkSize     = 16 << 10
	highWaterMark = 1 << 20
	lowWaterMark  = 256 << 10
)

// TLSDialer dials TLS to a TURN server, trusting roots.
func TLSDialer(roots *x509.CertPool) proxy.Dialer { return tlsDialer{roots: roots} }

type tlsDialer struct{ roots *x509.CertPool }

// Dial implements proxy.Dialer: a TLS connection verified against the
// roots, named after the address's host.
func (d tlsDialer) Dial(network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return tls.DialWithDialer(dialer, network, addr, &tls.Config{RootCAs: d.roots, ServerName: host, MinVersion: tls.VersionTLS12})
}

// RelayExchange connects an offerer and an answerer with the relay-only
// ICE policy and sends size random bytes from the offerer to the answerer
// on a data channel; it fails unless they arrive intact before ctx ends.
func RelayExchange(ctx context.Context, offer, answer Peer, size int, logs logging.LoggerFactory) (Result, error) {
	start := time.Now()
	offerer, err := newPeer(offer, logs)
	if err != nil {
		return Result{}, err
	}
	defer offerer.Close() //nolint:errcheck // test teardown
	answerer, err := newPeer(answer, logs)
	if err != nil {
		return Result{}, err
	}
	defer answerer.Close() //nolint:errcheck // test teardown

	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	want := sha256.Sum256(payload)
	received := make(chan [32]byte, 1)
	answerer.OnDataChannel(func(dc *webrtc.DataChannel) { collect(dc, size, received) })

	ordered := true
	dc, err := offerer.CreateDataChannel("bulk", &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		return Result{}, err
	}
	sendErr := make(chan error, 1)
	dc.OnOpen(func() { sendErr <- send(ctx, dc, payload) })
	if err := negotiate(ctx, offerer, answerer); err != nil {
		return Result{}, err
	}
	select {
	case err := <-sendErr:
		if err != nil {
			return Result{}, fmt.Errorf("send: %w", err)
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("data channel never opened: %w (offerer ICE %s, answerer ICE %s)",
			ctx.Err(), offerer.ICEConnectionState(), answerer.ICEConnectionState())
	}
	select {
	case got := <-received:
		if !bytes.Equal(got[:], want[:]) {
			return Result{}, errors.New("payload arrived corrupted")
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("payload not received: %w", ctx.Err())
	}
	res := Result{Bytes: size, Elapsed: time.Since(start)}
	res.OffererCandidate, err = selectedLocal(offerer)
	if err != nil {
		return res, err
	}
	res.AnswererCandidate, err = selectedLocal(answerer)
	return res, err
}

func newPeer(p Peer, logs logging.LoggerFactory) (*webrtc.PeerConnection, error) {
	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Bind the peers' TURN client sockets to loopback only.
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	if p.Dialer != nil {
		se.SetICEProxyDialer(p.Dialer)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	return api.NewPeerConnection(webrtc.Configuration{ICEServers: p.ICEServers, ICETransportPolicy: webrtc.ICETransportPolicyRelay})
}

// negotiate exchanges complete (non-trickle) descriptions.
func negotiate(ctx context.Context, offerer, answerer *webrtc.PeerConnection) error {
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := setLocal(ctx, offerer, offer); err != nil {
		return fmt.Errorf("offerer: %w", err)
	}
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		return err
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := setLocal(ctx, answerer, answer); err != nil {
		return fmt.Errorf("answerer: %w", err)
	}
	return offerer.SetRemoteDescription(*answerer.LocalDescription())
}

func setLocal(ctx context.Context, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) error {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fmt.Errorf("ICE gathering: %w", ctx.Err())
	}
	if !bytes.Contains([]byte(pc.LocalDescription().SDP), []byte("typ relay")) {
		return errors.New("no relay candidate gathered")
	}
	return nil
}

func send(ctx context.Context, dc *webrtc.DataChannel, payload []byte) error {
	low := make(chan struct{}, 1)
	dc.SetBufferedAmountLowThreshold(lowWaterMark)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	for off := 0; off < len(payload); off += chunkSize {
		for dc.BufferedAmount() > highWaterMark {
			select {
			case <-low:
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := dc.Send(payload[off:min(off+chunkSize, len(payload))]); err != nil {
			return err
		}
	}
	return nil
}

func collect(dc *webrtc.DataChannel, size int, done chan<- [32]byte) {
	buf := make([]byte, 0, size)
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		buf = append(buf, msg.Data...)
		if len(buf) >= size {
			select {
			case done <- sha256.Sum256(buf):
			default:
			}
		}
	})
}

func selectedLocal(pc *webrtc.PeerConnection) (webrtc.ICECandidate, error) {
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return webrtc.ICECandidate{}, fmt.Errorf("no selected candidate pair: %w", err)
	}
	if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
		return webrtc.ICECandidate{}, fmt.Errorf("selected pair is %s -> %s, not relay -> relay", pair.Local.Typ, pair.Remote.Typ)
	}
	return *pair.Local, nil
}
