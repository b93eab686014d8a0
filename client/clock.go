package client

import (
	"sync/atomic"
	"time"
)

// signingClock is the time requests are signed with: the local clock plus
// the offset learned from the server after it refused a signature for its
// time. Devices often boot with a wrong clock (no RTC, NTP not synced
// yet), and SigV4 allows only minutes of difference, so without this such
// a device could never connect. A Client shares one signingClock with the
// signaling connections of the peers built on it. It is safe for
// concurrent use.
type signingClock struct {
	local  func() time.Time // the device's clock
	offset atomic.Int64     // nanoseconds to add to local
}

// newSigningClock returns a clock on local, or on time.Now when local is
// nil, with no offset yet.
func newSigningClock(local func() time.Time) *signingClock {
	if local == nil {
		local = time.Now
	}
	return &signingClock{local: local}
}

// now is the corrected time to sign with.
func (c *signingClock) now() time.Time {
	return c.local().Add(c.skew())
}

// skew is the offset currently added to the local clock.
func (c *signingClock) skew() time.Duration {
	return time.Duration(c.offset.Load())
}
