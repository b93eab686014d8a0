package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestGetIceServerConfigMalformedARNIsNotThrottled: a GetIceServerConfig
// whose ChannelARN is not an ARN is bad input, and must be answered
// InvalidArgumentException however often it is sent. It names no channel,
// so it must not spend (or create) a per-channel quota bucket, as the other
// operations guarantee (controlplane TestInvalidChannelsAreNotKeys). The
// default burst of GetIceServerConfig is 10 calls per channel.
func TestGetIceServerConfigMalformedARNIsNotThrottled(t *testing.T) {
	srv := startServer(t, serverOptions{})
	for _, arn := range []string{"not-an-arn", strings.Repeat("x", 60<<10)} {
		for i := range 15 {
			resp, raw := srv.iceCall(t, testAccessKey, testSecret, fmt.Sprintf(`{"ChannelARN":%q}`, arn))
			if code := checkAWSReply(t, resp, raw); code != "InvalidArgumentException" || resp.StatusCode != 400 {
				t.Fatalf("call %d with a %d-byte malformed ChannelARN: got %d %s, want 400 InvalidArgumentException: %.200s",
					i+1, len(arn), resp.StatusCode, code, raw)
			}
		}
	}
}
