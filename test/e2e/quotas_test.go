package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// TestControlPlaneQuotaFromTheFile: a control_plane entry in the YAML
// file sets an operation's channel quota. The rate is so slow (one call
// in 1000 s) that only the burst counts, so the test does not depend on
// timing: the channel takes two TagResource calls, whether the SDK names
// it by ARN each time, and the third is refused with the limit and its
// settings, while the other operations keep their defaults.
func TestControlPlaneQuotaFromTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	yaml := "control_plane:\n  operations:\n    TagResource:\n      channel_per_second: 0.001\n      channel_burst: 2\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverOptions{args: []string{"--config", path}})
	kvs := srv.kvs()
	ctx := testContext(t)
	created, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	tag := &kinesisvideo.TagResourceInput{ResourceARN: created.ChannelARN, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}
	for i := range 2 {
		if _, err := kvs.TagResource(ctx, tag); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	_, err = kvs.TagResource(ctx, tag)
	got := wantAPIError(t, err, "ClientLimitExceededException", 400)
	for _, want := range []string{"TagResource", "this channel", "limit 0.001 per second, burst 2",
		"control_plane.operations.TagResource.channel_per_second", "control_plane.operations.TagResource.channel_burst"} {
		if !strings.Contains(got.Msg, want) {
			t.Errorf("refusal %q does not mention %q", got.Msg, want)
		}
	}
	// ListTagsForResource has its own quota, and a different channel
	// has its own bucket.
	if _, err := kvs.ListTagsForResource(ctx, &kinesisvideo.ListTagsForResourceInput{ResourceARN: created.ChannelARN}); err != nil {
		t.Fatalf("another operation: %v", err)
	}
	other, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("other")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kvs.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: other.ChannelARN, Tags: tag.Tags}); err != nil {
		t.Fatalf("another channel: %v", err)
	}
}

// TestControlPlaneRateLimitsSwitchedOff: with the switch off, even a
// quota set in the file refuses nothing.
func TestControlPlaneRateLimitsSwitchedOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	yaml := "control_plane:\n  operations:\n    DescribeSignalingChannel:\n      channel_per_second: 0.001\n      channel_burst: 1\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverOptions{args: []string{"--config", path}, env: []string{"SWITCHBOARD_CONTROL_PLANE_RATE_LIMITS=false"}})
	kvs := srv.kvs()
	ctx := testContext(t)
	if _, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("cam")}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("cam")}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
}
