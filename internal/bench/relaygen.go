package bench

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// relayViewer is one sending connection. Its reader records the messages
// the server refused (a STATUS_RESPONSE naming the message).
type relayViewer struct {
	id      uint32
	ws      *genConn
	seq     uint32 // next sequence number; owned by its sender
	refused bitset // owned by the viewer's reader
}

// relayMaster is one receiving connection: it checks that every message
// arrives exactly once and records latencies. When the server closes it
// (a master that falls too far behind is dropped as a slow reader), it
// connects again, as KVS clients do, and the server hands it what waited.
type relayMaster struct {
	arn         string
	ws          atomic.Pointer[genConn]
	firstViewer uint32
	seen        []bitset // by viewer slot; owned by the receiving goroutine
	dups        atomic.Int64
	foreign     atomic.Int64 // frames without a stamp of ours
	// wasAway is set once the server dropped this master and it connected
	// again: only then could its viewers' offers wait in its mailbox.
	wasAway atomic.Bool

	mu      sync.Mutex
	samples samples
}

// relayRig is the generator's side of one relay run: masters, viewers and
// the counters they share.
type relayRig struct {
	dialer     *wsDialer
	masters    []*relayMaster
	viewers    []*relayViewer
	received   atomic.Int64
	sent       atomic.Int64
	refusals   atomic.Int64
	reconnects atomic.Int64
	sendErrs   atomic.Int64
	windowFull atomic.Int64 // times a sender found maxInFlight reached
	leftBehind atomic.Int64 // unaccounted for when the last step's drain ended
	firstErr   atomic.Value // error
	closing    atomic.Bool
	away       atomic.Int64 // masters connecting again
	stepStart  atomic.Int64 // sinceEpoch when the current step began
	wg         sync.WaitGroup

	// masterGate, when set, is read-locked by the masters' readers around
	// each message: a test holds it to make the masters fall behind.
	masterGate *sync.RWMutex

	reasonsMu sync.Mutex
	reasons   map[string]int64 // refusals by error type
}

// connectRig opens a master per channel ARN and viewersPer viewers each,
// and starts the readers.
func connectRig(ctx context.Context, d *wsDialer, arns []string, viewersPer int) (*relayRig, error) {
	rig, err := dialRig(ctx, d, arns, viewersPer)
	if err != nil {
		return nil, err
	}
	rig.startMasters()
	return rig, nil
}

// dialRig is connectRig without the masters' readers: startMasters starts
// them.
func dialRig(ctx context.Context, d *wsDialer, arns []string, viewersPer int) (*relayRig, error) {
	rig := &relayRig{dialer: d, reasons: map[string]int64{}}
	for c, arn := range arns {
		ws, _, err := d.dial(ctx, arn, "")
		if err != nil {
			rig.close()
			return nil, fmt.Errorf("master %d: %w", c, err)
		}
		m := &relayMaster{arn: arn, firstViewer: uint32(c * viewersPer), seen: make([]bitset, viewersPer)} //nolint:gosec // small
		m.ws.Store(ws)
		rig.masters = append(rig.masters, m)
	}
	for c, arn := range arns {
		for v := range viewersPer {
			ws, _, err := d.dial(ctx, arn, fmt.Sprintf("viewer-%d", v))
			if err != nil {
				rig.close()
				return nil, fmt.Errorf("viewer %d of channel %d: %w", v, c, err)
			}
			viewer := &relayViewer{id: uint32(c*viewersPer + v), ws: ws} //nolint:gosec // small
			rig.viewers = append(rig.viewers, viewer)
			rig.wg.Go(func() { ws.readLoop(func(frame []byte) { rig.refused(viewer, frame) }) })
		}
	}
	return rig, nil
}

// startMasters starts the masters' readers.
func (rig *relayRig) startMasters() {
	for _, m := range rig.masters {
		rig.wg.Go(func() { rig.receive(m) })
	}
}

// refused records a refusal the server sent viewer v.
func (rig *relayRig) refused(v *relayViewer, frame []byte) {
	viewer, seq, reason, ok := readRefusal(frame)
	if !ok || viewer != v.id {
		return
	}
	v.refused.set(seq)
	rig.refusals.Add(1)
	rig.reasonsMu.Lock()
	rig.reasons[reason]++
	rig.reasonsMu.Unlock()
}

// receive reads a master's frames, connecting again whenever the server
// closes it, until the rig closes.
func (rig *relayRig) receive(m *relayMaster) {
	onData := func(payload []byte) {
		if g := rig.masterGate; g != nil {
			g.RLock()
			g.RUnlock() //nolint:staticcheck // waiting for the gate is the point
		}
		st, ok := readStamp(payload)
		slot := int(st.viewer) - int(m.firstViewer)
		if !ok || slot < 0 || slot >= len(m.seen) {
			m.foreign.Add(1)
			return
		}
		lat := time.Duration(sinceEpoch() - st.sent)
		if m.seen[slot].set(st.seq) {
			m.dups.Add(1)
		}
		if st.sent >= rig.stepStart.Load() { // not a straggler of an earlier step
			m.mu.Lock()
			m.samples = append(m.samples, lat)
			m.mu.Unlock()
		}
		rig.received.Add(1)
	}
	for {
		m.ws.Load().readLoop(onData)
		if rig.closing.Load() {
			return
		}
		rig.away.Add(1)
		ok := rig.reconnect(m)
		rig.away.Add(-1)
		if !ok {
			return
		}
	}
}

// reconnect opens a new connection for m, trying for up to a minute.
func (rig *relayRig) reconnect(m *relayMaster) bool {
	for range 600 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := rig.dialer.dial(ctx, m.arn, "")
		cancel()
		if err == nil {
			m.ws.Store(ws)
			if rig.closing.Load() {
				_ = ws.closeNow()
				return false
			}
			m.wasAway.Store(true)
			rig.reconnects.Add(1)
			return true
		}
		if rig.closing.Load() {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
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
	return total.Load()
}

// maxInFlight bounds the messages the generator has sent and not yet seen
// delivered or refused, as TCP's windows bound what a population of real
// clients has outstanding: past saturation the senders then wait for the
// target instead of piling up its queues without end (a server would drop
// the masters as slow readers, a forwarder would block). Below saturation
// the window is not reached: in flight is about rate × latency, some 1,000
// messages at 100,000/s and 10 ms.
const maxInFlight = 20_000

// inFlight is how many messages were sent and are not yet accounted for,
// not counting those an earlier step left unaccounted for after its drain
// (offers superseded in a mailbox never arrive, and must not shrink the
// window for good).
func (rig *relayRig) inFlight() int64 {
	return rig.sent.Load() - rig.received.Load() - rig.refusals.Load() - rig.leftBehind.Load()
}

func (rig *relayRig) sendShare(ctx context.Context, mine []*relayViewer, rate float64, start time.Time, d time.Duration, ice, sdp frameTemplate) int64 {
	var n int64
	buf := make([]byte, 0, len(sdp.frame))
	next := 0
	for elapsed := time.Since(start); elapsed < d && ctx.Err() == nil && len(mine) > 0; elapsed = time.Since(start) {
		due := int64(rate * elapsed.Seconds())
		for ; n < due; n++ {
			if rig.inFlight() >= maxInFlight {
				rig.windowFull.Add(1)
				break
			}
			v := mine[next%len(mine)]
			next++
			t := ice
			if v.seq%sdpEvery == sdpEvery-1 {
				t = sdp
			}
			buf = t.fill(buf, stamp{viewer: v.id, seq: v.seq, sent: sinceEpoch()})
			if err := v.ws.writeText(buf); err != nil {
				rig.sendErrs.Add(1)
				rig.firstErr.CompareAndSwap(nil, err)
				return n
			}
			v.seq++
			rig.sent.Add(1)
		}
		time.Sleep(time.Millisecond)
	}
	return n
}

// drain waits until every message sent has arrived or been refused, until
// nothing more has come for drainQuiet (offers superseded in a mailbox
// never come), or until wait has passed. It returns how many are not
// accounted for.
func (rig *relayRig) drain(wait time.Duration) int64 {
	deadline := time.Now().Add(wait)
	accounted := func() int64 { return rig.received.Load() + rig.refusals.Load() }
	last, lastChange := accounted(), time.Now()
	for {
		now := time.Now()
		got := accounted()
		if got != last {
			last, lastChange = got, now
		}
		missing := rig.sent.Load() - got
		if missing <= 0 || now.After(deadline) || now.Sub(lastChange) >= drainQuiet {
			return missing
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits, for up to wait, until every message is accounted for (as
// drain does) and every master the server dropped is connected again, so
// that a step after an overloaded one starts from a calm server.
func (rig *relayRig) settle(wait time.Duration) {
	deadline := time.Now().Add(wait)
	rig.drain(wait)
	for rig.away.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	rig.drain(time.Until(deadline))
}

// drainQuiet is how long drain waits with nothing arriving before it
// gives up early.
const drainQuiet = 2 * time.Second

// relayTally is what became of the messages the viewers sent.
type relayTally struct {
	missing    int64 // neither delivered nor refused nor superseded
	superseded int64 // SDP offers a newer offer of the same viewer replaced in the mailbox
	dups       int64 // delivered more than once
	foreign    int64 // frames the masters could not attribute
	both       int64 // delivered and refused
}

// verify checks that every message each viewer sent was either delivered
// once or refused to its sender, never both and never neither. One more
// fate is allowed, the one the protocol prescribes (spec 6.7): an SDP
// offer that waited in the mailbox of an absent master is replaced by a
// newer offer from the same viewer, so an undelivered offer followed by a
// delivered later one counts as superseded. A master that was never away
// has no mailbox to wait in: an offer of its viewers that did not arrive
// is missing, whatever came after it.
func (rig *relayRig) verify() relayTally {
	var t relayTally
	for _, v := range rig.viewers {
		m := rig.masters[int(v.id)/len(rig.masters[0].seen)]
		seen := m.seen[int(v.id)-int(m.firstViewer)]
		t.both += int64(seen.overlap(v.refused))
		mayBeSuperseded := m.wasAway.Load()
		laterOffer := false // a later SDP offer of this viewer arrived
		for seq := int64(v.seq) - 1; seq >= 0; seq-- {
			n := uint32(seq) //nolint:gosec // below v.seq
			isOffer := n%sdpEvery == sdpEvery-1
			switch {
			case seen.has(n):
				laterOffer = laterOffer || isOffer
			case v.refused.has(n):
			case isOffer && laterOffer && mayBeSuperseded:
				t.superseded++
			default:
				t.missing++
			}
		}
	}
	for _, m := range rig.masters {
		t.dups += m.dups.Load()
		t.foreign += m.foreign.Load()
	}
	return t
}

// refusalReasons returns the refusals counted by error type.
func (rig *relayRig) refusalReasons() map[string]int64 {
	rig.reasonsMu.Lock()
	defer rig.reasonsMu.Unlock()
	return maps.Clone(rig.reasons)
}

// close ends every connection and waits for the readers.
func (rig *relayRig) close() {
	rig.closing.Store(true)
	for _, v := range rig.viewers {
		_ = v.ws.closeNow()
	}
	for _, m := range rig.masters {
		_ = m.ws.Load().closeNow()
	}
	rig.wg.Wait()
}
