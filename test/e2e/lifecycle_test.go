package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// TestChannelLifecycle walks one channel through every control-plane
// operation with the AWS SDK for Go v2 and checks each reply.
func TestChannelLifecycle(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{noRateLimits}})
	kvs := srv.kvs()
	ctx := testContext(t)
	before := time.Now().Add(-time.Second)

	created, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{
		ChannelName:               aws.String("front-door"),
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(30)},
		Tags:                      []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	arn := aws.ToString(created.ChannelARN)
	prefix := fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:channel/front-door/", testRegion, testAccount)
	if !strings.HasPrefix(arn, prefix) {
		t.Fatalf("ARN %q does not start with %q", arn, prefix)
	}

	byName, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("front-door")})
	if err != nil {
		t.Fatalf("describe by name: %v", err)
	}
	info := byName.ChannelInfo
	if aws.ToString(info.ChannelARN) != arn || info.ChannelStatus != types.StatusActive || info.ChannelType != types.ChannelTypeSingleMaster {
		t.Fatalf("describe: got %+v", info)
	}
	if got := aws.ToInt32(info.SingleMasterConfiguration.MessageTtlSeconds); got != 30 {
		t.Fatalf("MessageTtlSeconds = %d, want 30", got)
	}
	if ct := aws.ToTime(info.CreationTime); ct.Before(before) || ct.After(time.Now().Add(time.Second)) {
		t.Fatalf("CreationTime %v is not around now", ct)
	}
	if want := fmt.Sprint(aws.ToTime(info.CreationTime).UnixMilli()); !strings.HasSuffix(arn, "/"+want) {
		t.Fatalf("ARN %q does not end with the creation time in milliseconds %s", arn, want)
	}
	byBoth, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("front-door"), ChannelARN: aws.String(arn)})
	if err != nil || aws.ToString(byBoth.ChannelInfo.Version) != aws.ToString(info.Version) {
		t.Fatalf("describe by name and ARN: %v %+v", err, byBoth)
	}

	list, err := kvs.ListSignalingChannels(ctx, &kinesisvideo.ListSignalingChannelsInput{})
	if err != nil || len(list.ChannelInfoList) != 1 || aws.ToString(list.ChannelInfoList[0].ChannelARN) != arn || list.NextToken != nil {
		t.Fatalf("list: %v %+v", err, list)
	}

	version := aws.ToString(info.Version)
	if _, err := kvs.UpdateSignalingChannel(ctx, &kinesisvideo.UpdateSignalingChannelInput{
		ChannelARN: aws.String(arn), CurrentVersion: aws.String(version),
		SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(90)},
	}); err != nil {
		t.Fatalf("update: %v", err)
	}
	updated := describeARN(t, kvs, arn)
	if aws.ToInt32(updated.SingleMasterConfiguration.MessageTtlSeconds) != 90 || aws.ToString(updated.Version) == version {
		t.Fatalf("after update: TTL %d, version %q (was %q)", aws.ToInt32(updated.SingleMasterConfiguration.MessageTtlSeconds), aws.ToString(updated.Version), version)
	}

	checkTags(t, kvs, arn, map[string]string{"env": "test"})
	if _, err := kvs.TagResource(ctx, &kinesisvideo.TagResourceInput{ResourceARN: aws.String(arn), Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("video ops")},
	}}); err != nil {
		t.Fatalf("tag: %v", err)
	}
	checkTags(t, kvs, arn, map[string]string{"env": "prod", "team": "video ops"})
	if _, err := kvs.UntagResource(ctx, &kinesisvideo.UntagResourceInput{ResourceARN: aws.String(arn), TagKeyList: []string{"env", "absent"}}); err != nil {
		t.Fatalf("untag: %v", err)
	}
	checkTags(t, kvs, arn, map[string]string{"team": "video ops"})

	storage, err := kvs.DescribeMediaStorageConfiguration(ctx, &kinesisvideo.DescribeMediaStorageConfigurationInput{ChannelARN: aws.String(arn)})
	if err != nil || storage.MediaStorageConfiguration.Status != types.MediaStorageConfigurationStatusDisabled || storage.MediaStorageConfiguration.StreamARN != nil {
		t.Fatalf("describe media storage: %v %+v", err, storage)
	}
	if _, err := kvs.UpdateMediaStorageConfiguration(ctx, &kinesisvideo.UpdateMediaStorageConfigurationInput{
		ChannelARN: aws.String(arn), MediaStorageConfiguration: &types.MediaStorageConfiguration{Status: types.MediaStorageConfigurationStatusDisabled},
	}); err != nil {
		t.Fatalf("update media storage to DISABLED: %v", err)
	}

	for _, role := range []types.ChannelRole{types.ChannelRoleMaster, types.ChannelRoleViewer} {
		checkEndpoints(t, srv, kvs, arn, role)
	}

	final := describeARN(t, kvs, arn)
	if _, err := kvs.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: aws.String(arn), CurrentVersion: final.Version}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("front-door")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("describe after delete: want ResourceNotFoundException, got %v", err)
	}
	again, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("front-door")})
	if err != nil || aws.ToString(again.ChannelARN) == arn {
		t.Fatalf("re-create after delete: %v, ARN %q (old %q)", err, aws.ToString(again.ChannelARN), arn)
	}
	if got := aws.ToInt32(describeARN(t, kvs, aws.ToString(again.ChannelARN)).SingleMasterConfiguration.MessageTtlSeconds); got != 60 {
		t.Fatalf("default MessageTtlSeconds = %d, want 60", got)
	}
}

func describeARN(t *testing.T, kvs *kinesisvideo.Client, arn string) *types.ChannelInfo {
	t.Helper()
	out, err := kvs.DescribeSignalingChannel(testContext(t), &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String(arn)})
	if err != nil {
		t.Fatalf("describe %s: %v", arn, err)
	}
	return out.ChannelInfo
}

func checkTags(t *testing.T, kvs *kinesisvideo.Client, arn string, want map[string]string) {
	t.Helper()
	out, err := kvs.ListTagsForResource(testContext(t), &kinesisvideo.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil {
		t.Fatalf("list tags: %v", err)
	}
	if len(out.Tags) != len(want) {
		t.Fatalf("tags = %v, want %v", out.Tags, want)
	}
	for k, v := range want {
		if out.Tags[k] != v {
			t.Fatalf("tags = %v, want %v", out.Tags, want)
		}
	}
}

func checkEndpoints(t *testing.T, srv *server, kvs *kinesisvideo.Client, arn string, role types.ChannelRole) {
	t.Helper()
	out, err := kvs.GetSignalingChannelEndpoint(testContext(t), &kinesisvideo.GetSignalingChannelEndpointInput{
		ChannelARN: aws.String(arn),
		SingleMasterChannelEndpointConfiguration: &types.SingleMasterChannelEndpointConfiguration{
			Protocols: []types.ChannelProtocol{types.ChannelProtocolWss, types.ChannelProtocolHttps}, Role: role,
		},
	})
	if err != nil {
		t.Fatalf("get endpoint (%s): %v", role, err)
	}
	got := map[types.ChannelProtocol]string{}
	for _, e := range out.ResourceEndpointList {
		got[e.Protocol] = aws.ToString(e.ResourceEndpoint)
	}
	want := map[types.ChannelProtocol]string{types.ChannelProtocolHttps: "https://" + srv.Addr, types.ChannelProtocolWss: "wss://" + srv.Addr}
	if len(got) != 2 || got[types.ChannelProtocolHttps] != want[types.ChannelProtocolHttps] || got[types.ChannelProtocolWss] != want[types.ChannelProtocolWss] {
		t.Fatalf("endpoints (%s) = %v, want %v", role, got, want)
	}
}

func createChannel(t *testing.T, kvs *kinesisvideo.Client, name string) string {
	t.Helper()
	out, err := kvs.CreateSignalingChannel(testContext(t), &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String(name)})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return aws.ToString(out.ChannelARN)
}

func deleteInput(arn string) *kinesisvideo.DeleteSignalingChannelInput {
	return &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: aws.String(arn)}
}
