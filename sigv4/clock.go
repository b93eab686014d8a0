package sigv4

import (
	"fmt"
	"time"
)

// The KVS C SDK looks for "Signature expired" and "Signature not yet current"
// in 403 bodies and then corrects its clock from the reply's Date header
// instead of re-fetching credentials (spec sections 7.6 and 9 item 19). The
// messages below reproduce AWS's wording around those phrases.

// checkSkew fails when signedAt is more than skew away from now.
func checkSkew(signedAt, now time.Time, skew time.Duration) *Error {
	if earliest := now.Add(-skew); signedAt.Before(earliest) {
		return fail(ErrSignatureExpired, "%s%s is now earlier than %s (%s - %s)",
			msgExpiredPrefix, stamp(signedAt), stamp(earliest), stamp(now), span(skew))
	}
	if latest := now.Add(skew); signedAt.After(latest) {
		return fail(ErrSignatureNotYetCurrent, "%s%s is still later than %s (%s + %s)",
			msgNotYetPrefix, stamp(signedAt), stamp(latest), stamp(now), span(skew))
	}
	return nil
}

// checkPresignWindow fails unless signedAt - skew <= now <= signedAt + expires.
func checkPresignWindow(signedAt, now time.Time, expires, skew time.Duration) *Error {
	if latest := now.Add(skew); signedAt.After(latest) {
		return fail(ErrSignatureNotYetCurrent, "%s%s is still later than %s (%s + %s)",
			msgNotYetPrefix, stamp(signedAt), stamp(latest), stamp(now), span(skew))
	}
	if earliest := now.Add(-expires); signedAt.Before(earliest) {
		return fail(ErrSignatureExpired, "%s%s is now earlier than %s (%s - %s)",
			msgExpiredPrefix, stamp(signedAt), stamp(earliest), stamp(now), span(expires))
	}
	return nil
}

// stamp formats t as an ISO 8601 basic UTC timestamp.
func stamp(t time.Time) string { return t.UTC().Format(amzDateLayout) }

// span formats d the way AWS messages do: "15 min." or "299 sec.".
func span(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", d/time.Minute)
	}
	return fmt.Sprintf("%d sec.", d/time.Second)
}
