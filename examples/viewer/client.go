package main

import "github.com/switchboard-rtc/switchboard/client"

// newClient builds the SDK client from the AWS CLI's settings: endpoint
// (AWS_ENDPOINT_URL, else real KVS), region, CA bundle and credentials
// (environment, then ~/.aws).
func newClient() (*client.Client, error) {
	cfg, err := client.ResolveConfig(client.Settings{}, nil)
	if err != nil {
		return nil, err
	}
	return client.New(cfg)
}
