package e2e

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// TestDurabilityAcrossKill creates 100 channels with tags, kills the server
// with SIGKILL (no shutdown of any kind), starts it again on the same data
// directory and finds every channel with its tags and version.
func TestDurabilityAcrossKill(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{noRateLimits}})
	kvs := srv.kvs()
	ctx := testContext(t)
	type record struct{ arn, version, tag string }
	want := map[string]record{}
	for i := range 100 {
		name := fmt.Sprintf("durable-%03d", i)
		out, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{
			ChannelName: aws.String(name),
			Tags:        []types.Tag{{Key: aws.String("index"), Value: aws.String(fmt.Sprint(i))}},
		})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		want[name] = record{arn: aws.ToString(out.ChannelARN), tag: fmt.Sprint(i)}
	}
	// An update and a delete must survive too.
	first := describeName(t, kvs, "durable-000")
	if _, err := kvs.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{
		ChannelARN: first.ChannelARN, CurrentVersion: first.Version,
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(7)},
	}); err != nil {
		t.Fatal(err)
	}
	last := describeName(t, kvs, "durable-099")
	if _, err := kvs.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: last.ChannelARN}); err != nil {
		t.Fatal(err)
	}
	delete(want, "durable-099")
	for name, rec := range want {
		rec.version = aws.ToString(describeName(t, kvs, name).Version)
		want[name] = rec
	}

	srv.kill()
	srv.restart()
	kvs = srv.kvs()

	for name, rec := range want {
		info := describeName(t, kvs, name)
		if aws.ToString(info.ChannelARN) != rec.arn || aws.ToString(info.Version) != rec.version {
			t.Fatalf("%s after restart: ARN %q version %q, want %q %q", name, aws.ToString(info.ChannelARN), aws.ToString(info.Version), rec.arn, rec.version)
		}
		checkTags(t, kvs, rec.arn, map[string]string{"index": rec.tag})
	}
	if ttl := aws.ToInt32(describeName(t, kvs, "durable-000").SingleMasterConfiguration.MessageTtlSeconds); ttl != 7 {
		t.Fatalf("updated TTL after restart = %d, want 7", ttl)
	}
	_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("durable-099")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	if got := listAll(t, kvs, 1000, "durable-"); len(got) != 99 {
		t.Fatalf("listed %d channels after restart, want 99", len(got))
	}
}
