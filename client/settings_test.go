package client

import (
	"os"
	"path/filepath"
	"testing"
)

// TestResolveConfigPrecedence checks the AWS CLI's order: explicit
// settings, then the environment, then the profile, then real KVS.
func TestResolveConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte("[default]\nregion = eu-west-1\nendpoint_url = https://from-profile:8443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", config)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	for _, name := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS_VIDEO", "AWS_CA_BUNDLE"} {
		t.Setenv(name, "")
	}

	cfg, err := ResolveConfig(Settings{}, StaticCredentials{})
	if err != nil || cfg.Region != "eu-west-1" || cfg.Endpoint != "https://from-profile:8443" || cfg.TLSConfig != nil {
		t.Fatalf("from the profile: %+v %v", cfg, err)
	}
	t.Setenv("AWS_REGION", "us-west-2")
	t.Setenv("AWS_ENDPOINT_URL", "https://from-env:8443")
	if cfg, _ = ResolveConfig(Settings{}, StaticCredentials{}); cfg.Region != "us-west-2" || cfg.Endpoint != "https://from-env:8443" {
		t.Fatalf("environment over profile: %+v", cfg)
	}
	t.Setenv("AWS_ENDPOINT_URL_KINESIS_VIDEO", "https://service-specific:8443")
	if cfg, _ = ResolveConfig(Settings{}, StaticCredentials{}); cfg.Endpoint != "https://service-specific:8443" {
		t.Fatalf("service-specific endpoint: %+v", cfg)
	}
	if cfg, _ = ResolveConfig(Settings{Region: "ap-south-1", Endpoint: "https://explicit"}, StaticCredentials{}); cfg.Region != "ap-south-1" || cfg.Endpoint != "https://explicit" {
		t.Fatalf("explicit settings: %+v", cfg)
	}
	_ = os.WriteFile(config, []byte("[default]\n"), 0o600)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_KINESIS_VIDEO", "")
	if cfg, _ = ResolveConfig(Settings{Region: "cn-north-1"}, StaticCredentials{}); cfg.Endpoint != "https://kinesisvideo.cn-north-1.amazonaws.com.cn" {
		t.Fatalf("real KVS endpoint: %+v", cfg)
	}
	t.Setenv("AWS_REGION", "")
	if _, err := ResolveConfig(Settings{}, StaticCredentials{}); err == nil {
		t.Fatal("no region accepted")
	}
	t.Setenv("AWS_CA_BUNDLE", filepath.Join(dir, "missing.pem"))
	if _, err := ResolveConfig(Settings{Region: "us-east-1"}, StaticCredentials{}); err == nil {
		t.Fatal("missing CA bundle accepted")
	}
}
