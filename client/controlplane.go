package client

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// CreateSignalingChannel creates a channel. in.ChannelName is required;
// the service defaults the type to SINGLE_MASTER and the message TTL to 60
// seconds. A taken name gives a ResourceInUseException (IsResourceInUse).
func (c *Client) CreateSignalingChannel(ctx context.Context, in *kvsapi.CreateSignalingChannelInput) (*kvsapi.CreateSignalingChannelOutput, error) {
	if in == nil {
		in = &kvsapi.CreateSignalingChannelInput{}
	}
	var out kvsapi.CreateSignalingChannelOutput
	if err := c.call(ctx, "CreateSignalingChannel", c.endpoint, kvsapi.PathCreateSignalingChannel, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DescribeSignalingChannel returns a channel's description. nameOrARN is a
// channel name or, when it starts with "arn:", a channel ARN (names cannot
// contain ':'). An unknown channel gives a ResourceNotFoundException
// (IsNotFound).
func (c *Client) DescribeSignalingChannel(ctx context.Context, nameOrARN string) (*kvsapi.ChannelInfo, error) {
	in := kvsapi.ChannelSelector{ChannelName: &nameOrARN}
	if strings.HasPrefix(nameOrARN, "arn:") {
		in = kvsapi.ChannelSelector{ChannelARN: &nameOrARN}
	}
	var out kvsapi.DescribeSignalingChannelOutput
	if err := c.call(ctx, "DescribeSignalingChannel", c.endpoint, kvsapi.PathDescribeSignalingChannel, in, &out); err != nil {
		return nil, err
	}
	return &out.ChannelInfo, nil
}

// DeleteSignalingChannel deletes a channel. currentVersion is optional;
// when given, the deletion fails with a VersionMismatchException if the
// channel changed meanwhile. Connected masters and viewers receive GO_AWAY.
func (c *Client) DeleteSignalingChannel(ctx context.Context, channelARN, currentVersion string) error {
	in := kvsapi.DeleteSignalingChannelInput{ChannelARN: &channelARN}
	if currentVersion != "" {
		in.CurrentVersion = &currentVersion
	}
	return c.call(ctx, "DeleteSignalingChannel", c.endpoint, kvsapi.PathDeleteSignalingChannel, in, nil)
}

// ListSignalingChannels returns one page of channels; in may be nil. Pass
// the reply's NextToken in the next call to get the following page.
func (c *Client) ListSignalingChannels(ctx context.Context, in *kvsapi.ListSignalingChannelsInput) (*kvsapi.ListSignalingChannelsOutput, error) {
	if in == nil {
		in = &kvsapi.ListSignalingChannelsInput{}
	}
	var out kvsapi.ListSignalingChannelsOutput
	if err := c.call(ctx, "ListSignalingChannels", c.endpoint, kvsapi.PathListSignalingChannels, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// maxListPages stops ListAllSignalingChannels from following a server that
// never stops paginating.
const maxListPages = 10000

// ListAllSignalingChannels follows the pagination of ListSignalingChannels
// and returns every channel whose name begins with namePrefix (every
// channel when namePrefix is empty).
func (c *Client) ListAllSignalingChannels(ctx context.Context, namePrefix string) ([]kvsapi.ChannelInfo, error) {
	in := &kvsapi.ListSignalingChannelsInput{}
	if namePrefix != "" {
		in.ChannelNameCondition = &kvsapi.ChannelNameCondition{
			ComparisonOperator: new(kvsapi.ComparisonBeginsWith),
			ComparisonValue:    &namePrefix,
		}
	}
	var all []kvsapi.ChannelInfo
	for range maxListPages {
		page, err := c.ListSignalingChannels(ctx, in)
		if err != nil {
			return nil, err
		}
		all = append(all, page.ChannelInfoList...)
		if page.NextToken == "" {
			return all, nil
		}
		if in.NextToken != nil && *in.NextToken == page.NextToken {
			return nil, fmt.Errorf("client: ListSignalingChannels returned the same NextToken twice")
		}
		in.NextToken = &page.NextToken
	}
	return nil, fmt.Errorf("client: ListSignalingChannels did not finish within %d pages", maxListPages)
}

// Endpoints are a channel's data-plane endpoints for one role.
type Endpoints struct {
	// HTTPS is the base URL of GetIceServerConfig.
	HTTPS string
	// WSS is the WebSocket endpoint to give SignalingConfig.Endpoint.
	WSS string
}

// GetSignalingChannelEndpoint asks for the HTTPS and WSS endpoints of a
// channel for role (kvsapi.RoleMaster or kvsapi.RoleViewer). It fails when
// the reply lacks either endpoint.
func (c *Client) GetSignalingChannelEndpoint(ctx context.Context, channelARN, role string) (Endpoints, error) {
	in := kvsapi.GetSignalingChannelEndpointInput{
		ChannelARN: &channelARN,
		SingleMasterChannelEndpointConfiguration: &kvsapi.SingleMasterChannelEndpointConfiguration{
			Protocols: []string{kvsapi.ProtocolWSS, kvsapi.ProtocolHTTPS},
			Role:      &role,
		},
	}
	var out kvsapi.GetSignalingChannelEndpointOutput
	if err := c.call(ctx, "GetSignalingChannelEndpoint", c.endpoint, kvsapi.PathGetSignalingChannelEndpoint, in, &out); err != nil {
		return Endpoints{}, err
	}
	var eps Endpoints
	for _, e := range out.ResourceEndpointList {
		switch strings.ToUpper(e.Protocol) {
		case kvsapi.ProtocolHTTPS:
			eps.HTTPS = e.ResourceEndpoint
		case kvsapi.ProtocolWSS:
			eps.WSS = e.ResourceEndpoint
		}
	}
	if eps.HTTPS == "" || eps.WSS == "" {
		return Endpoints{}, fmt.Errorf("client: GetSignalingChannelEndpoint: reply lacks the HTTPS or WSS endpoint: %+v", out.ResourceEndpointList)
	}
	return eps, nil
}

// GetIceServerConfig fetches TURN servers for a channel from its HTTPS
// endpoint (Endpoints.HTTPS), POSTing to {httpsEndpoint}/v1/get-ice-server-config.
// clientID is optional: a viewer passes its own client id.
func (c *Client) GetIceServerConfig(ctx context.Context, httpsEndpoint, channelARN, clientID string) ([]kvsapi.IceServer, error) {
	base, err := normaliseHTTPSEndpoint("the HTTPS endpoint", httpsEndpoint)
	if err != nil {
		return nil, err
	}
	in := kvsapi.GetIceServerConfigInput{ChannelARN: &channelARN, Service: new(kvsapi.ServiceTURN)}
	if clientID != "" {
		in.ClientId = &clientID
	}
	var out kvsapi.GetIceServerConfigOutput
	if err := c.call(ctx, "GetIceServerConfig", base, kvsapi.PathGetIceServerConfig, in, &out); err != nil {
		return nil, err
	}
	return out.IceServerList, nil
}

// SendAlexaOfferToMaster hands an SDP offer to the channel's master through
// its HTTPS endpoint (Endpoints.HTTPS), POSTing to
// {httpsEndpoint}/v1/send-alexa-offer-to-master, and returns the master's
// SDP answer. The master sees the offer as coming from a viewer whose
// client id is senderClientID. Both offer and answer are base64 text, as
// in WebSocket messages. The call waits for the answer; the service ends
// it with a not-found error when no master answers in time.
func (c *Client) SendAlexaOfferToMaster(ctx context.Context, httpsEndpoint, channelARN, senderClientID, offer string) (string, error) {
	base, err := normaliseHTTPSEndpoint("the HTTPS endpoint", httpsEndpoint)
	if err != nil {
		return "", err
	}
	in := kvsapi.SendAlexaOfferToMasterInput{ChannelARN: &channelARN, SenderClientId: &senderClientID, MessagePayload: &offer}
	var out kvsapi.SendAlexaOfferToMasterOutput
	if err := c.call(ctx, "SendAlexaOfferToMaster", base, kvsapi.PathSendAlexaOfferToMaster, in, &out); err != nil {
		return "", err
	}
	return out.Answer, nil
}

// Polling of EnsureChannel while a new channel becomes ACTIVE.
const (
	ensurePollInterval = 500 * time.Millisecond
	ensurePollAttempts = 60
)

// EnsureChannel returns the description of the channel called name,
// creating it with default settings when it does not exist (what the KVS C
// SDK does). A channel created concurrently by someone else is fine. After
// a creation it waits, within ctx, until the channel is no longer CREATING.
func (c *Client) EnsureChannel(ctx context.Context, name string) (*kvsapi.ChannelInfo, error) {
	info, err := c.DescribeSignalingChannel(ctx, name)
	if err == nil || !IsNotFound(err) {
		return info, err
	}
	_, err = c.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{ChannelName: &name})
	if err != nil && !IsResourceInUse(err) {
		return nil, err
	}
	return c.waitCreated(ctx, name)
}

// waitCreated describes a just-created channel until it is visible and no
// longer CREATING.
func (c *Client) waitCreated(ctx context.Context, name string) (*kvsapi.ChannelInfo, error) {
	for attempt := 1; ; attempt++ {
		info, err := c.DescribeSignalingChannel(ctx, name)
		settled := err == nil && info.ChannelStatus != kvsapi.ChannelStatusCreating
		if settled || err != nil && !IsNotFound(err) || attempt == ensurePollAttempts {
			return info, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("client: waiting for channel %s: %w", name, ctx.Err())
		case <-time.After(ensurePollInterval):
		}
	}
}
