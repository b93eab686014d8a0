package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// A second account, declared in a configuration file.
const (
	otherAccount   = "444455556666"
	otherAccessKey = "AKIAOTHERACCOUNT0001"
	otherSecret    = "otherSecretKeyForTheSecondAccount0000000"
)

func writeAccountsConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	yaml := fmt.Sprintf("accounts:\n  - id: %q\n    access_key_id: %s\n    secret_access_key: %s\n", otherAccount, otherAccessKey, otherSecret)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestListPaginationAndAccounts lists 250 channels in pages of 7, with and
// without a name prefix, and checks that each channel comes back exactly
// once and that a second account sees none of them.
func TestListPaginationAndAccounts(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{"--config", writeAccountsConfig(t), noRateLimits}})
	root := srv.kvs()
	other := srv.kvs(otherAccessKey, otherSecret)
	ctx := testContext(t)

	var all, prefixed []string
	for i := range 250 {
		name := fmt.Sprintf("cam-%03d", i)
		if i%3 == 0 {
			name = fmt.Sprintf("door-%03d", i)
			prefixed = append(prefixed, name)
		}
		all = append(all, name)
		if _, err := root.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String(name)}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	sort.Strings(all)

	if got := listAll(t, root, 7, ""); !slices.Equal(got, all) {
		t.Fatalf("listing in pages of 7 returned %d names (want %d, each once, in order)", len(got), len(all))
	}
	if got := listAll(t, root, 7, "door-"); !slices.Equal(got, prefixed) {
		t.Fatalf("listing with prefix door- returned %v, want %v", got, prefixed)
	}
	if got := listAll(t, root, 1000, "nothing-"); len(got) != 0 {
		t.Fatalf("listing with an unmatched prefix returned %v", got)
	}

	if got := listAll(t, other, 7, ""); len(got) != 0 {
		t.Fatalf("the other account sees %d channels of the root account", len(got))
	}
	// The same name is free in the other account and its ARN carries that
	// account; neither account can reach the other's channel.
	created, err := other.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("cam-001")})
	if err != nil {
		t.Fatalf("create in other account: %v", err)
	}
	otherARN := aws.ToString(created.ChannelARN)
	if want := fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:channel/cam-001/", testRegion, otherAccount); otherARN[:len(want)] != want {
		t.Fatalf("other account's ARN %q, want prefix %q", otherARN, want)
	}
	_, err = root.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: aws.String(otherARN)})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = other.DeleteSignalingChannel(ctx, &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: describeName(t, root, "cam-002").ChannelARN})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	if got := listAll(t, other, 7, ""); len(got) != 1 || got[0] != "cam-001" {
		t.Fatalf("other account lists %v, want [cam-001]", got)
	}
	if got := listAll(t, root, 500, ""); len(got) != 250 {
		t.Fatalf("root account lists %d channels after the other account's create, want 250", len(got))
	}
}

// listAll follows NextToken with the SDK's paginator.
func listAll(t *testing.T, kvs *kinesisvideo.Client, pageSize int32, prefix string) []string {
	t.Helper()
	in := &kinesisvideo.ListSignalingChannelsInput{MaxResults: aws.Int32(pageSize)}
	if prefix != "" {
		in.ChannelNameCondition = &types.ChannelNameCondition{ComparisonOperator: types.ComparisonOperatorBeginsWith, ComparisonValue: aws.String(prefix)}
	}
	var names []string
	pages := kinesisvideo.NewListSignalingChannelsPaginator(kvs, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(testContext(t))
		if err != nil {
			t.Fatalf("list page: %v", err)
		}
		if len(page.ChannelInfoList) > int(pageSize) {
			t.Fatalf("page of %d items for MaxResults %d", len(page.ChannelInfoList), pageSize)
		}
		for _, ch := range page.ChannelInfoList {
			names = append(names, aws.ToString(ch.ChannelName))
		}
	}
	return names
}

func describeName(t *testing.T, kvs *kinesisvideo.Client, name string) *types.ChannelInfo {
	t.Helper()
	out, err := kvs.DescribeSignalingChannel(testContext(t), &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String(name)})
	if err != nil {
		t.Fatalf("describe %s: %v", name, err)
	}
	return out.ChannelInfo
}
