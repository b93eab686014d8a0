package client

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// clockSkewPhrases are what a 403 says when it refuses a signature for its
// time alone: the request was signed too long ago or too far ahead of the
// server's clock (spec section 7.6). AWS, our server and the KVS C SDK all
// rely on these two phrases.
var clockSkewPhrases = []string{"Signature expired", "Signature not yet current"}

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

// learnFrom takes the server's clock from err when err is a refusal of the
// signature's time that carried a Date header, and reports whether it did:
// the caller then signs once more, with the corrected time. Other errors
// leave the clock alone. The offset replaces the one learned before, so a
// local clock that NTP has set right meanwhile is corrected back.
func (c *signingClock) learnFrom(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !apiErr.refusesSigningTime() || apiErr.serverTime.IsZero() {
		return false
	}
	// Date has whole seconds, so the offset is right to about a second,
	// far inside the minutes SigV4 allows.
	c.offset.Store(int64(apiErr.serverTime.Sub(c.local())))
	return true
}

// refusesSigningTime reports whether the service refused the request only
// because its signing time lies outside the window the server accepts.
func (e *APIError) refusesSigningTime() bool {
	if e.Status != http.StatusForbidden {
		return false
	}
	for _, phrase := range clockSkewPhrases {
		if strings.Contains(e.Message, phrase) {
			return true
		}
	}
	return false
}

// replyTime is the server's clock from a reply's Date header, or the zero
// time when the header is missing or unreadable.
func replyTime(header http.Header) time.Time {
	t, err := http.ParseTime(header.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t
}
