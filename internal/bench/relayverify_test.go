package bench

import "testing"

// verifyRig builds a relay rig of one channel with one viewer that sent
// sent messages, of which the master received those in delivered; no
// connection is opened (verify reads only the counts).
func verifyRig(sent uint32, delivered []uint32, masterWasAway bool) *relayRig {
	m := &relayMaster{seen: make([]bitset, 1)}
	for _, seq := range delivered {
		m.seen[0].set(seq)
	}
	m.wasAway.Store(masterWasAway)
	return &relayRig{masters: []*relayMaster{m}, viewers: []*relayViewer{{id: 0, seq: sent}}}
}

// TestVerifyOfferLostToAPresentMaster: an SDP offer can only be replaced
// by a later one while it waits in an absent master's mailbox (spec 6.7).
// When the master never went away, an offer that did not arrive is
// missing even though a later offer did; when the master was away, the
// same gap is a superseded offer.
func TestVerifyOfferLostToAPresentMaster(t *testing.T) {
	// Messages 0..19: 9 and 19 are offers (sdpEvery = 10); 9 never came.
	var delivered []uint32
	for seq := range uint32(20) {
		if seq != sdpEvery-1 {
			delivered = append(delivered, seq)
		}
	}
	present := verifyRig(20, delivered, false).verify()
	if present.missing != 1 || present.superseded != 0 {
		t.Errorf("master never away: %d missing, %d superseded; want the lost offer missing", present.missing, present.superseded)
	}
	away := verifyRig(20, delivered, true).verify()
	if away.missing != 0 || away.superseded != 1 {
		t.Errorf("master away: %d missing, %d superseded; want the offer superseded", away.missing, away.superseded)
	}
	// The last offer has no later one to be replaced by: missing either way.
	allButLast := append([]uint32{sdpEvery - 1}, delivered[:len(delivered)-1]...)
	last := verifyRig(20, allButLast, true).verify()
	if last.missing != 1 {
		t.Errorf("last offer lost to an away master: %d missing, want 1", last.missing)
	}
	if whole := verifyRig(20, append(delivered, sdpEvery-1), false).verify(); whole != (relayTally{}) {
		t.Errorf("every message delivered once: %+v, want nothing to report", whole)
	}
}
