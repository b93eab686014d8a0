package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/sigv4"
)

const testCredentialsFile = `# comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret-default

[cam]
aws_access_key_id=AKIDCAM
aws_secret_access_key=secret/cam+1=
aws_session_token = token-cam
`

const testConfigFile = `[default]
region = eu-west-1

[profile cam]
region = us-west-2
endpoint_url = https://127.0.0.1:8443
ca_bundle = /tmp/ca.pem
s3 =
  max_concurrent_requests = 20
; comment

[profile only-config]
region = ap-south-1
aws_access_key_id = AKIDCONF
aws_secret_access_key = secret-conf
`

// sharedFiles writes the two files and points the environment at them,
// clearing the credential variables.
func sharedFiles(t *testing.T) {
	dir := t.TempDir()
	creds, conf := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")
	os.WriteFile(creds, []byte(testCredentialsFile), 0o600)
	os.WriteFile(conf, []byte(testConfigFile), 0o600)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", conf)
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
}

func TestLoadSharedConfig(t *testing.T) {
	sharedFiles(t)
	tests := []struct {
		name, profile, envProfile string
		want                      SharedConfig
	}{
		{"default", "", "", SharedConfig{Profile: "default", Region: "eu-west-1",
			Credentials: sigv4.Credentials{AccessKeyID: "AKIDDEFAULT", SecretAccessKey: "secret-default"}}},
		{"named", "cam", "", SharedConfig{Profile: "cam", Region: "us-west-2", EndpointURL: "https://127.0.0.1:8443", CABundle: "/tmp/ca.pem",
			Credentials: sigv4.Credentials{AccessKeyID: "AKIDCAM", SecretAccessKey: "secret/cam+1=", SessionToken: "token-cam"}}},
		{"from AWS_PROFILE", "", "cam", SharedConfig{Profile: "cam", Region: "us-west-2", EndpointURL: "https://127.0.0.1:8443", CABundle: "/tmp/ca.pem",
			Credentials: sigv4.Credentials{AccessKeyID: "AKIDCAM", SecretAccessKey: "secret/cam+1=", SessionToken: "token-cam"}}},
		{"keys in the config file", "only-config", "", SharedConfig{Profile: "only-config", Region: "ap-south-1",
			Credentials: sigv4.Credentials{AccessKeyID: "AKIDCONF", SecretAccessKey: "secret-conf"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", tc.envProfile)
			got, err := LoadSharedConfig(tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			got.CredentialsFile, got.ConfigFile = "", ""
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLoadSharedConfigUnknownProfile(t *testing.T) {
	sharedFiles(t)
	_, err := LoadSharedConfig("nope")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("got %v, want an error naming the profile", err)
	}
}

func TestLoadSharedConfigWithoutFiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none2"))
	t.Setenv("AWS_PROFILE", "")
	cfg, err := LoadSharedConfig("")
	if err != nil || cfg.Credentials.AccessKeyID != "" {
		t.Fatalf("got %+v, %v; want an empty default profile", cfg, err)
	}
}

func TestDefaultCredentialsOrder(t *testing.T) {
	sharedFiles(t)
	ctx := context.Background()
	get := func(p CredentialsProvider) string {
		t.Helper()
		c, err := p.Retrieve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c.AccessKeyID
	}
	if got := get(DefaultCredentials("")); got != "AKIDDEFAULT" {
		t.Fatalf("no environment: %s, want the default profile", got)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
	if got := get(DefaultCredentials("")); got != "AKIDENV" {
		t.Fatalf("with the environment: %s, want it first", got)
	}
	if got := get(DefaultCredentials("cam")); got != "AKIDCAM" {
		t.Fatalf("with a profile named: %s, want the profile", got)
	}
}

func TestDefaultCredentialsNothingFound(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	_, err := DefaultCredentials("").Retrieve(context.Background())
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("got %v, want ErrNoCredentials", err)
	}
	for _, want := range []string{"AWS_ACCESS_KEY_ID", "default"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%q does not mention %s", err, want)
		}
	}
}

func TestChainCredentialsStopsOnHardError(t *testing.T) {
	boom := errors.New("unreadable")
	chain := ChainCredentials(
		CredentialsFunc(func(context.Context) (sigv4.Credentials, error) { return sigv4.Credentials{}, boom }),
		StaticCredentials{AccessKeyID: "A", SecretAccessKey: "B"},
	)
	if _, err := chain.Retrieve(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the hard error", err)
	}
}

func TestDefaultSTUNURL(t *testing.T) {
	for region, want := range map[string]string{
		"us-west-2":  "stun:stun.kinesisvideo.us-west-2.amazonaws.com:443",
		"cn-north-1": "stun:stun.kinesisvideo.cn-north-1.amazonaws.com.cn:443",
	} {
		if got := DefaultSTUNURL(region); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
