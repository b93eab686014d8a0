package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// TestControlPlaneErrors checks that each bad request comes back through
// the SDK's own error handling with the AWS error name, the HTTP status and
// a message that names the offending member.
func TestControlPlaneErrors(t *testing.T) {
	srv := startServer(t, serverOptions{})
	kvs := srv.kvs()
	ctx := testContext(t)
	created, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("taken")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ChannelARN)
	missingARN := strings.Replace(arn, "/taken/", "/absent/", 1)
	otherAccountARN := strings.Replace(arn, testAccount, "999999999999", 1)
	tags51 := make([]types.Tag, 51)
	for i := range tags51 {
		tags51[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
	}
	tag := func(k, v string) []types.Tag { return []types.Tag{{Key: aws.String(k), Value: aws.String(v)}} }
	create := func(in kinesisvideo.CreateSignalingChannelInput) func() error {
		return func() error { _, err := kvs.CreateSignalingChannel(ctx, &in); return err }
	}
	ttl := func(n int32) *types.SingleMasterConfiguration {
		return &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(n)}
	}

	cases := []struct {
		name     string
		call     func() error
		code     string
		status   int
		mentions string
	}{
		{"describe unknown name", func() error {
			_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("absent")})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"describe unknown ARN", func() error {
			_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String(missingARN)})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"describe another account's ARN", func() error {
			_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String(otherAccountARN)})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"describe without name or ARN", func() error {
			_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{})
			return err
		}, "InvalidArgumentException", 400, "ChannelName"},
		{"describe name and ARN disagree", func() error {
			_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("other"), ChannelARN: aws.String(arn)})
			return err
		}, "InvalidArgumentException", 400, "different"},
		{"describe malformed ARN", func() error {
			_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String("arn:aws:s3:::bucket")})
			return err
		}, "InvalidArgumentException", 400, "ChannelARN"},
		{"create duplicate name", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("taken")}), "ResourceInUseException", 400, "taken"},
		{"create name with bad characters", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("bad name!")}), "InvalidArgumentException", 400, "ChannelName"},
		{"create name too long", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String(strings.Repeat("a", 257))}), "InvalidArgumentException", 400, "256"},
		{"create TTL below 5", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("ttl-low"), SingleMasterConfiguration: ttl(4)}), "InvalidArgumentException", 400, "MessageTtlSeconds"},
		{"create TTL above 120", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("ttl-high"), SingleMasterConfiguration: ttl(121)}), "InvalidArgumentException", 400, "MessageTtlSeconds"},
		{"create FULL_MESH", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("mesh"), ChannelType: types.ChannelTypeFullMesh}), "InvalidArgumentException", 400, "FULL_MESH"},
		{"create unknown channel type", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("odd"), ChannelType: "STAR"}), "InvalidArgumentException", 400, "ChannelType"},
		{"create 51 tags", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("tags"), Tags: tags51}), "TagsPerResourceExceededLimitException", 400, "50"},
		{"create tag key too long", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("tags"), Tags: tag(strings.Repeat("k", 129), "v")}), "InvalidArgumentException", 400, "Key"},
		{"create tag value too long", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("tags"), Tags: tag("k", strings.Repeat("v", 257))}), "InvalidArgumentException", 400, "Value"},
		{"create tag key with bad characters", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("tags"), Tags: tag("a<b", "v")}), "InvalidArgumentException", 400, "Key"},
		{"create reserved tag key", create(kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("tags"), Tags: tag("aws:owner", "v")}), "InvalidArgumentException", 400, "aws:"},
		{"update stale version", func() error {
			_, err := kvs.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{ChannelARN: aws.String(arn), CurrentVersion: aws.String("stale0version0token00")})
			return err
		}, "VersionMismatchException", 400, "CurrentVersion"},
		{"update unknown channel", func() error {
			_, err := kvs.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{ChannelARN: aws.String(missingARN), CurrentVersion: aws.String("abc")})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"update bad TTL", func() error {
			_, err := kvs.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{ChannelARN: aws.String(arn), CurrentVersion: aws.String("abc"), SingleMasterConfiguration: ttl(200)})
			return err
		}, "InvalidArgumentException", 400, "MessageTtlSeconds"},
		{"delete stale version", func() error {
			_, err := kvs.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: aws.String(arn), CurrentVersion: aws.String("stale")})
			return err
		}, "VersionMismatchException", 400, "CurrentVersion"},
		{"delete unknown channel", func() error {
			_, err := kvs.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: aws.String(missingARN)})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"tag beyond 50 in total", func() error {
			_, err := kvs.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: aws.String(arn), Tags: tags51[:50]})
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = kvs.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: aws.String(arn), Tags: tag("one-more", "v")})
			return err
		}, "TagsPerResourceExceededLimitException", 400, "50"},
		{"tag unknown channel", func() error {
			_, err := kvs.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: aws.String(missingARN), Tags: tag("k", "v")})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"untag empty key list", func() error {
			_, err := kvs.UntagResource(ctx, &kinesisvideo.UntagResourceInput{ResourceARN: aws.String(arn), TagKeyList: []string{}})
			return err
		}, "InvalidArgumentException", 400, "TagKeyList"},
		{"list tags of unknown channel", func() error {
			_, err := kvs.ListTagsForResource(ctx, &kinesisvideo.ListTagsForResourceInput{ResourceARN: aws.String(missingARN)})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"list MaxResults above 10000", func() error {
			_, err := kvs.ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{MaxResults: aws.Int32(10001)})
			return err
		}, "InvalidArgumentException", 400, "MaxResults"},
		{"list foreign NextToken", func() error {
			_, err := kvs.ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{NextToken: aws.String("bm90LWEtdG9rZW4=")})
			return err
		}, "InvalidArgumentException", 400, "NextToken"},
		{"list unknown comparison operator", func() error {
			_, err := kvs.ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{ChannelNameCondition: &types.ChannelNameCondition{
				ComparisonOperator: "ENDS_WITH", ComparisonValue: aws.String("x")}})
			return err
		}, "InvalidArgumentException", 400, "ComparisonOperator"},
		{"endpoint for WEBRTC", func() error {
			_, err := kvs.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: aws.String(arn),
				SingleMasterChannelEndpointConfiguration: &types.SingleMasterChannelEndpointConfiguration{Protocols: []types.ChannelProtocol{types.ChannelProtocolWebrtc}}})
			return err
		}, "InvalidArgumentException", 400, "WEBRTC"},
		{"endpoint with unknown role", func() error {
			_, err := kvs.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: aws.String(arn),
				SingleMasterChannelEndpointConfiguration: &types.SingleMasterChannelEndpointConfiguration{Role: "OBSERVER"}})
			return err
		}, "InvalidArgumentException", 400, "Role"},
		{"endpoint of unknown channel", func() error {
			_, err := kvs.GetSignalingChannelEndpoint(ctx, &kinesisvideo.GetSignalingChannelEndpointInput{ChannelARN: aws.String(missingARN)})
			return err
		}, "ResourceNotFoundException", 404, "not found"},
		{"enable media storage", func() error {
			_, err := kvs.UpdateMediaStorageConfiguration(ctx, &kinesisvideo.UpdateMediaStorageConfigurationInput{ChannelARN: aws.String(arn),
				MediaStorageConfiguration: &types.MediaStorageConfiguration{Status: types.MediaStorageConfigurationStatusEnabled, StreamARN: aws.String("arn:aws:kinesisvideo:us-west-2:111122223333:stream/s/1")}})
			return err
		}, "InvalidArgumentException", 400, "not supported"},
		{"unknown access key", func() error {
			_, err := srv.kvs("AKIAUNKNOWNKEY000000", testSecret).ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{})
			return err
		}, "UnrecognizedClientException", 403, "security token"},
		{"wrong secret", func() error {
			_, err := srv.kvs(testAccessKey, "not-the-secret-at-all-000000000").ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{})
			return err
		}, "InvalidSignatureException", 403, "signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := wantAPIError(t, tc.call(), tc.code, tc.status)
			if !strings.Contains(strings.ToLower(got.Msg), strings.ToLower(tc.mentions)) {
				t.Fatalf("message %q does not mention %q", got.Msg, tc.mentions)
			}
		})
	}
}

// TestTypedSDKErrors checks that the SDK maps our error names onto its own
// typed errors, as it would for the real service.
func TestTypedSDKErrors(t *testing.T) {
	srv := startServer(t, serverOptions{})
	kvs := srv.kvs()
	ctx := context.Background()
	_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("absent")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("want *types.ResourceNotFoundException, got %T %v", err, err)
	}
	if _, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	_, err = kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("x")})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("want *types.ResourceInUseException, got %T %v", err, err)
	}
	_, err = kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("bad name")})
	var invalid *types.InvalidArgumentException
	if !errors.As(err, &invalid) {
		t.Fatalf("want *types.InvalidArgumentException, got %T %v", err, err)
	}
}

// TestChannelLimit checks the per-account channel limit and its error.
func TestChannelLimit(t *testing.T) {
	srv := startServer(t, serverOptions{env: []string{"SWITCHBOARD_MAX_CHANNELS_PER_ACCOUNT=3"}})
	kvs := srv.kvs()
	ctx := testContext(t)
	for i := range 3 {
		if _, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String(fmt.Sprintf("c%d", i))}); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	_, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("c3")})
	got := wantAPIError(t, err, "AccountChannelLimitExceededException", 400)
	if !strings.Contains(got.Msg, "3") || !strings.Contains(got.Msg, "max_per_account") {
		t.Fatalf("message %q does not name the limit and its setting", got.Msg)
	}
	var limit *types.AccountChannelLimitExceededException
	if !errors.As(err, &limit) {
		t.Fatalf("want *types.AccountChannelLimitExceededException, got %T", err)
	}
}
