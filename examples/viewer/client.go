package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/switchboard-rtc/switchboard/client"
)

// newClient builds the SDK client from the AWS CLI's settings: endpoint
// (AWS_ENDPOINT_URL, else real KVS), region, CA bundle and credentials
// (environment, then ~/.aws).
func newClient() (*client.Client, error) {
	shared, err := client.LoadSharedConfig("")
	if err != nil {
		return nil, err
	}
	region := first(os.Getenv("AWS_REGION"), shared.Region, "us-west-2")
	endpoint := first(os.Getenv("AWS_ENDPOINT_URL"), shared.EndpointURL, "https://kinesisvideo."+region+".amazonaws.com")
	cfg := client.Config{Endpoint: endpoint, Region: region, Credentials: client.DefaultCredentials("")}
	if bundle := first(os.Getenv("AWS_CA_BUNDLE"), shared.CABundle); bundle != "" {
		pem, err := os.ReadFile(bundle)
		if err != nil {
			return nil, err
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", bundle)
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return client.New(cfg)
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
