package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Settings say where the service is and whom to trust. Empty fields are
// filled the way the AWS CLI fills them; see ResolveConfig.
type Settings struct {
	// Endpoint is the control-plane URL. Else AWS_ENDPOINT_URL_KINESIS_VIDEO,
	// AWS_ENDPOINT_URL, the profile's endpoint_url, or real KVS in Region.
	Endpoint string
	// Region is the AWS region. Else AWS_REGION, AWS_DEFAULT_REGION or the
	// profile's region.
	Region string
	// CABundle is a PEM file of extra certificate authorities to trust (a
	// development Switchboard's CA, for example). Else AWS_CA_BUNDLE or the
	// profile's ca_bundle.
	CABundle string
	// Profile names the profile of the shared config and credentials files;
	// else AWS_PROFILE, else "default".
	Profile string
}

// ResolveConfig completes s from the environment and the shared files and
// returns a Config for New. creds, when nil, becomes
// DefaultCredentials(s.Profile): the environment, then the profile.
func ResolveConfig(s Settings, creds CredentialsProvider) (Config, error) {
	shared, err := LoadSharedConfig(s.Profile)
	if err != nil {
		return Config{}, err
	}
	region := firstNonEmpty(s.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), shared.Region)
	if region == "" {
		return Config{}, errors.New("client: no region: set one, or AWS_REGION, or region in the profile")
	}
	endpoint := firstNonEmpty(s.Endpoint, os.Getenv("AWS_ENDPOINT_URL_KINESIS_VIDEO"), os.Getenv("AWS_ENDPOINT_URL"),
		shared.EndpointURL, KVSEndpoint(region))
	tlsConfig, err := TrustCABundle(firstNonEmpty(s.CABundle, os.Getenv("AWS_CA_BUNDLE"), shared.CABundle))
	if err != nil {
		return Config{}, err
	}
	if creds == nil {
		creds = DefaultCredentials(s.Profile)
	}
	return Config{Endpoint: endpoint, Region: region, Credentials: creds, TLSConfig: tlsConfig}, nil
}

// KVSEndpoint is the control-plane URL of real Kinesis Video Streams in a
// region.
func KVSEndpoint(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "https://kinesisvideo." + region + ".amazonaws.com.cn"
	}
	return "https://kinesisvideo." + region + ".amazonaws.com"
}

// TrustCABundle returns TLS settings that trust the system roots and the
// certificates of the PEM file at path; nil (the system roots alone) when
// path is empty.
func TrustCABundle(path string) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client: CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client: CA bundle %s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
