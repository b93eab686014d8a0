package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// relayViewer is one sending connection.
type relayViewer struct {
	id  uint32
	ws  *websocket.Conn
	seq uint32 // next sequence number; owned by its sender
}

// relayMaster is one receiving connection: it checks that every message
// arrives exactly once and records latencies.
type relayMaster struct {
	ws          *websocket.Conn
	firstViewer uint32
	seen        []bitset // by viewer slot; owned by the receiving goroutine
	dups        atomic.Int64
	foreign     atomic.Int64 // frames without a stamp of ours

	mu      sync.Mutex
	samples samples
}

// relayRig is the generator's side of one relay run: masters, viewers and
// the counters they share.
type relayRig struct {
	masters  []*relayMaster
	viewers  []*relayViewer
	received atomic.Int64
	sent     atomic.Int64
	sendErrs atomic.Int64
	firstErr atomic.Value // error
	wg       sync.WaitGroup
}

// connectRig opens a master per channel ARN and viewersPer viewers each,
// and starts the masters' readers.
func connectRig(ctx context.Context, d *wsDialer, arns []string, viewersPer int) (*relayRig, error) {
	rig := &relayRig{}
	for c, arn := range arns {
		ws, _, err := d.dial(ctx, arn, "")
		if err != nil {
			rig.close()
			return nil, fmt.Errorf("master %d: %w", c, err)
		}
		rig.masters = append(rig.masters, &relayMaster{ws: ws, firstViewer: uint32(c * viewersPer), seen: make([]bitset, viewersPer)}) //nolint:gosec // small
	}
	for c, arn := range arns {
		for v := range viewersPer {
			ws, _, err := d.dial(ctx, arn, fmt.Sprintf("viewer-%d", v))
			if err != nil {
				rig.close()
				return nil, fmt.Errorf("viewer %d of channel %d: %w", v, c, err)
			}
			ws.CloseRead(context.Background())                                                    // answers the server's pings
			rig.viewers = append(rig.viewers, &relayViewer{id: uint32(c*viewersPer + v), ws: ws}) //nolint:gosec // small
		}
	}
	for _, m := range rig.masters {
		rig.wg.Go(func() { rig.receive(m) })
	}
	return rig, nil
}

// receive reads a master's frames until its connection ends.
func (rig *relayRig) receive(m *relayMaster) {
	buf := make([]byte, 0, 16<<10)
	for {
		_, r, err := m.ws.Reader(context.Background())
		if err != nil {
			return
		}
		buf, err = readAllInto(buf[:0], r)
		if err != nil {
			return
		}
		st, ok := readStamp(buf)
		slot := int(st.viewer) - int(m.firstViewer)
		if !ok || slot < 0 || slot >= len(m.seen) {
			m.foreign.Add(1)
			continue
		}
		lat := time.Duration(sinceEpoch() - st.sent)
		if m.seen[slot].set(st.seq) {
			m.dups.Add(1)
		}
		m.mu.Lock()
		m.samples = append(m.samples, lat)
		m.mu.Unlock()
		rig.received.Add(1)
	}
}

// readAllInto appends everything r yields to buf.
func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// takeSamples returns and clears the latencies recorded so far.
func (rig *relayRig) takeSamples() samples {
	var all samples
	for _, m := range rig.masters {
		m.mu.Lock()
		all = append(all, m.samples...)
		m.samples = m.samples[:0]
		m.mu.Unlock()
	}
	return all
}

// send offers rate messages per second for d, spread over senders
// goroutines, each writing to its share of the viewers. It returns how
// many were sent.
func (rig *relayRig) send(ctx context.Context, rate float64, d time.Duration, senders int) int64 {
	ice, sdp := newTemplate("ICE_CANDIDATE", icePayloadChars), newTemplate("SDP_OFFER", sdpPayloadChars)
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for s := range senders {
		var mine []*relayViewer
		for i := s; i < len(rig.viewers); i += senders {
			mine = append(mine, rig.viewers[i])
		}
		share := rate / float64(senders)
		wg.Go(func() { total.Add(rig.sendShare(ctx, mine, share, start, d, ice, sdp)) })
	}
	wg.Wait()
	rig.sent.Add(total.Load())
	return total.Load()
}

func (rig *relayRig) sendShare(ctx context.Context, mine []*relayViewer, rate float64, start time.Time, d time.Duration, ice, sdp frameTemplate) int64 {
	var n int64
	buf := make([]byte, 0, len(sdp.frame))
	next := 0
	for elapsed := time.Since(start); elapsed < d && ctx.Err() == nil && len(mine) > 0; elapsed = time.Since(start) {
		due := int64(rate * elapsed.Seconds())
		for ; n < due; n++ {
			v := mine[next%len(mine)]
			next++
			t := ice
			if v.seq%sdpEvery == sdpEvery-1 {
				t = sdp
			}
			buf = t.fill(buf, stamp{viewer: v.id, seq: v.seq, sent: sinceEpoch()})
			if err := v.ws.Write(ctx, websocket.MessageText, buf); err != nil {
				rig.sendErrs.Add(1)
				rig.firstErr.CompareAndSwap(nil, err)
				return n
			}
			v.seq++
		}
		time.Sleep(time.Millisecond)
	}
	return n
}

// drain waits until every message sent has arrived, or wait has passed,
// and returns how many are missing.
func (rig *relayRig) drain(wait time.Duration) int64 {
	deadline := time.Now().Add(wait)
	for {
		missing := rig.sent.Load() - rig.received.Load()
		if missing <= 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// verify checks exactly-once delivery: every sequence number each viewer
// sent arrived, once.
func (rig *relayRig) verify() (missing, dups, foreign int64) {
	for _, v := range rig.viewers {
		m := rig.masters[int(v.id)/len(rig.masters[0].seen)]
		got := m.seen[int(v.id)-int(m.firstViewer)].count()
		missing += int64(v.seq) - int64(got)
	}
	for _, m := range rig.masters {
		dups += m.dups.Load()
		foreign += m.foreign.Load()
	}
	return missing, dups, foreign
}

// close ends every connection and waits for the readers.
func (rig *relayRig) close() {
	for _, v := range rig.viewers {
		_ = v.ws.CloseNow()
	}
	for _, m := range rig.masters {
		_ = m.ws.CloseNow()
	}
	rig.wg.Wait()
}
