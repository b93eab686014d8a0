package e2e

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// goClient returns our public SDK's REST client for the server, signed with
// the root keys (or the given secret) and trusting the development CA.
func (s *server) goClient(t *testing.T, secret ...string) *client.Client {
	t.Helper()
	key := testSecret
	if len(secret) == 1 {
		key = secret[0]
	}
	c, err := client.New(client.Config{
		Endpoint:    s.Endpoint,
		Region:      testRegion,
		Credentials: client.StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: key},
		TLSConfig:   s.TLSConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoClientControlPlane walks every REST method of the public client
// against the real server, including the errors callers branch on.
func TestGoClientControlPlane(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{noRateLimits}})
	kvs := srv.goClient(t)
	ctx := testContext(t)

	_, err := kvs.DescribeSignalingChannel(ctx, "cam-1")
	var apiErr *client.APIError
	if !client.IsNotFound(err) || !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.RequestID == "" || apiErr.Message == "" {
		t.Fatalf("describe unknown: %v (%+v)", err, apiErr)
	}

	info, err := kvs.EnsureChannel(ctx, "cam-1")
	if err != nil || info.ChannelName != "cam-1" || info.ChannelStatus != kvsapi.ChannelStatusActive || info.Version == "" {
		t.Fatalf("ensure creates: %+v %v", info, err)
	}
	again, err := kvs.EnsureChannel(ctx, "cam-1")
	if err != nil || again.ChannelARN != info.ChannelARN {
		t.Fatalf("ensure finds: %+v %v", again, err)
	}
	byARN, err := kvs.DescribeSignalingChannel(ctx, info.ChannelARN)
	if err != nil || byARN.ChannelName != "cam-1" || byARN.CreationTime.Time().IsZero() {
		t.Fatalf("describe by ARN: %+v %v", byARN, err)
	}

	name, ttl := "cam-2", 30
	created, err := kvs.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{
		ChannelName:               &name,
		SingleMasterConfiguration: &kvsapi.SingleMasterConfiguration{MessageTtlSeconds: &ttl},
		Tags:                      []kvsapi.Tag{{Key: new("env"), Value: new("test")}},
	})
	if err != nil || !strings.Contains(created.ChannelARN, ":channel/cam-2/") {
		t.Fatalf("create: %+v %v", created, err)
	}
	if got, err := kvs.DescribeSignalingChannel(ctx, "cam-2"); err != nil || *got.SingleMasterConfiguration.MessageTtlSeconds != 30 {
		t.Fatalf("describe cam-2: %+v %v", got, err)
	}
	_, err = kvs.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{ChannelName: &name})
	if !client.IsResourceInUse(err) {
		t.Fatalf("create a taken name: %v", err)
	}
	_, err = kvs.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{ChannelName: new("bad name")})
	if !client.IsInvalidArgument(err) || !strings.Contains(err.Error(), "ChannelName") {
		t.Fatalf("create an invalid name: %v", err)
	}

	checkGoClientLists(t, srv, kvs)
	checkGoClientEndpoints(t, srv, kvs, info.ChannelARN)

	if err := kvs.DeleteSignalingChannel(ctx, info.ChannelARN, "0000stale"); !client.HasCode(err, "VersionMismatchException") {
		t.Fatalf("delete with a stale version: %v", err)
	}
	if err := kvs.DeleteSignalingChannel(ctx, info.ChannelARN, info.Version); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := kvs.DescribeSignalingChannel(ctx, info.ChannelARN); !client.IsNotFound(err) {
		t.Fatalf("describe after delete: %v", err)
	}
	if err := kvs.DeleteSignalingChannel(ctx, info.ChannelARN, ""); !client.IsNotFound(err) {
		t.Fatalf("delete twice: %v", err)
	}
}

func checkGoClientLists(t *testing.T, srv *server, kvs *client.Client) {
	t.Helper()
	ctx := testContext(t)
	for _, name := range []string{"cam-3", "door-1"} {
		if _, err := kvs.EnsureChannel(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	one := 1
	page, err := kvs.ListSignalingChannels(ctx, &kvsapi.ListSignalingChannelsInput{MaxResults: &one})
	if err != nil || len(page.ChannelInfoList) != 1 || page.NextToken == "" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	all, err := kvs.ListAllSignalingChannels(ctx, "")
	if err != nil || len(all) != 4 {
		t.Fatalf("list all: %d channels, %v", len(all), err)
	}
	cams, err := kvs.ListAllSignalingChannels(ctx, "cam-")
	if err != nil || len(cams) != 3 {
		t.Fatalf("list cam-: %+v %v", cams, err)
	}
	for _, c := range cams {
		if !strings.HasPrefix(c.ChannelName, "cam-") {
			t.Fatalf("list cam- returned %s", c.ChannelName)
		}
	}
}

func checkGoClientEndpoints(t *testing.T, srv *server, kvs *client.Client, arn string) {
	t.Helper()
	ctx := testContext(t)
	for _, role := range []string{kvsapi.RoleMaster, kvsapi.RoleViewer} {
		eps, err := kvs.GetSignalingChannelEndpoint(ctx, arn, role)
		if err != nil || eps.HTTPS != "https://"+srv.Addr || eps.WSS != "wss://"+srv.Addr {
			t.Fatalf("endpoints (%s): %+v %v", role, eps, err)
		}
		servers, err := kvs.GetIceServerConfig(ctx, eps.HTTPS, arn, "viewer-1")
		if err != nil || len(servers) < 1 || len(servers) > 5 {
			t.Fatalf("ICE servers (%s): %+v %v", role, servers, err)
		}
		for _, s := range servers {
			if len(s.Uris) < 1 || len(s.Uris) > 4 || s.Ttl <= 30 {
				t.Fatalf("ICE server unusable by KVS SDKs: %+v", s)
			}
		}
	}
	if _, err := kvs.GetSignalingChannelEndpoint(ctx, arn, "OWNER"); !client.IsInvalidArgument(err) {
		t.Fatalf("endpoint for a bad role: %v", err)
	}
	missing := strings.Replace(arn, "/cam-1/", "/absent/", 1)
	if _, err := kvs.GetSignalingChannelEndpoint(ctx, missing, kvsapi.RoleMaster); !client.IsNotFound(err) {
		t.Fatalf("endpoint of a missing channel: %v", err)
	}
	if _, err := kvs.GetIceServerConfig(ctx, srv.Endpoint, missing, ""); !client.IsNotFound(err) {
		t.Fatalf("ICE servers of a missing channel: %v", err)
	}
}

// TestGoClientTransportErrors checks the errors a CLI turns into advice:
// refused credentials, an untrusted certificate, an unreachable endpoint.
func TestGoClientTransportErrors(t *testing.T) {
	srv := startServer(t, serverOptions{})
	ctx := testContext(t)

	_, err := srv.goClient(t, "wrong-secret").ListSignalingChannels(ctx, nil)
	if !client.IsAuthFailure(err) {
		t.Fatalf("wrong secret: %v", err)
	}

	untrusted, err := client.New(client.Config{Endpoint: srv.Endpoint, Region: testRegion,
		Credentials: client.StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = untrusted.ListSignalingChannels(ctx, nil)
	if !errors.Is(err, client.ErrUntrustedCertificate) || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("untrusted certificate: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	gone, err := client.New(client.Config{Endpoint: "https://" + addr, Region: testRegion,
		Credentials: client.StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = gone.ListSignalingChannels(ctx, nil)
	if !errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("closed port: %v", err)
	}
}
