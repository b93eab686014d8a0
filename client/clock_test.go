package client

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestSigningClockLearnsOnlyFromTimeRefusals: only a 403 that refuses the
// signing time, with a readable Date header, corrects the clock (and so
// earns the one retry); any other failure, or such a refusal without a
// usable Date, leaves the clock as it was.
func TestSigningClockLearnsOnlyFromTimeRefusals(t *testing.T) {
	local := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // a device that booted without a real-time clock
	server := local.Add(36*time.Hour + 5*time.Second)
	dated := func(date string) http.Header { return http.Header{"Date": {date}} }
	reply := func(status int, message string, header http.Header) error {
		body := fmt.Sprintf(`{"__type":"InvalidSignatureException","Message":%q}`, message)
		return fmt.Errorf("client: DescribeSignalingChannel: %w", parseAPIError(status, header, []byte(body)))
	}
	serverDate := dated(server.Format(http.TimeFormat))
	tests := []struct {
		name  string
		err   error
		learn bool
	}{
		{"expired", reply(403, "Signature expired: 20200101T000000Z is now earlier than ...", serverDate), true},
		{"not yet current", reply(403, "Signature not yet current: 20200101T000000Z is still later than ...", serverDate), true},
		{"signature mismatch", reply(403, "The request signature we calculated does not match the signature you provided.", serverDate), false},
		{"unknown key", reply(403, "The security token included in the request is invalid.", serverDate), false},
		{"time phrase with another status", reply(400, "Signature expired: ...", serverDate), false},
		{"no Date header", reply(403, "Signature expired: ...", http.Header{}), false},
		{"unreadable Date header", reply(403, "Signature expired: ...", dated("yesterday")), false},
		{"not a reply", errors.New("client: connection refused"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newSigningClock(func() time.Time { return local })
			if got := clock.learnFrom(tc.err); got != tc.learn {
				t.Fatalf("learnFrom = %v, want %v", got, tc.learn)
			}
			want := local
			if tc.learn {
				want = server
			}
			if got := clock.now(); !got.Equal(want) {
				t.Fatalf("now() = %s, want %s", got, want)
			}
		})
	}
}
