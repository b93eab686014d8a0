package controlplane

import (
	"context"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

func (a *API) describeMediaStorageConfiguration(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.ChannelSelector
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := a.quotas.admitChannel(opDescribeMediaStorageConfiguration, p.Account, in.ChannelName, in.ChannelARN); err != nil {
		return nil, err
	}
	if _, err := a.channels.Resolve(ctx, p.Account, channel.Selector{Name: in.ChannelName, ARN: in.ChannelARN}); err != nil {
		return nil, err
	}
	// Switchboard does not ingest media, so every channel says DISABLED and
	// carries no stream (spec 3.9).
	disabled := kvsapi.MediaStorageDisabled
	return kvsapi.DescribeMediaStorageConfigurationOutput{
		MediaStorageConfiguration: kvsapi.MediaStorageConfiguration{Status: &disabled},
	}, nil
}

func (a *API) updateMediaStorageConfiguration(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.UpdateMediaStorageConfigurationInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.ChannelARN == nil:
		return nil, required("ChannelARN")
	case in.MediaStorageConfiguration == nil:
		return nil, required("MediaStorageConfiguration")
	case in.MediaStorageConfiguration.Status == nil:
		return nil, required("MediaStorageConfiguration.Status")
	}
	if err := a.quotas.admitChannel(opUpdateMediaStorageConfiguration, p.Account, nil, in.ChannelARN); err != nil {
		return nil, err
	}
	if _, err := a.channels.ByARN(ctx, p.Account, "ChannelARN", *in.ChannelARN); err != nil {
		return nil, err
	}
	switch status := *in.MediaStorageConfiguration.Status; status {
	case kvsapi.MediaStorageDisabled:
		return kvsapi.Empty{}, nil
	case kvsapi.MediaStorageEnabled:
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument,
			"MediaStorageConfiguration.Status ENABLED is not supported: this server relays signaling and does not ingest media")
	default:
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MediaStorageConfiguration.Status must be ENABLED or DISABLED, got %q", status)
	}
}

func (a *API) getSignalingChannelEndpoint(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.GetSignalingChannelEndpointInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ChannelARN == nil {
		return nil, required("ChannelARN")
	}
	protocols, err := endpointProtocols(in.SingleMasterChannelEndpointConfiguration)
	if err != nil {
		return nil, err
	}
	if err := a.quotas.admitChannel(opGetSignalingChannelEndpoint, p.Account, nil, in.ChannelARN); err != nil {
		return nil, err
	}
	ch, err := a.channels.ByARN(ctx, p.Account, "ChannelARN", *in.ChannelARN)
	if err != nil {
		return nil, err
	}
	if ch.Status != kvsapi.ChannelStatusActive && ch.Status != kvsapi.ChannelStatusUpdating {
		return nil, kvsapi.Errorf(kvsapi.CodeResourceInUse, "The channel is %s; endpoints are given for ACTIVE channels only", ch.Status)
	}
	// One WebSocket endpoint serves both roles: the role follows from the
	// presence of X-Amz-ClientId in the presigned URL (spec 4, option 3).
	out := kvsapi.GetSignalingChannelEndpointOutput{}
	for _, proto := range protocols {
		url := a.endpoints.WSS
		if proto == kvsapi.ProtocolHTTPS {
			url = a.endpoints.HTTPS
		}
		out.ResourceEndpointList = append(out.ResourceEndpointList, kvsapi.ResourceEndpoint{Protocol: proto, ResourceEndpoint: url})
	}
	return out, nil
}

// endpointProtocols validates the endpoint configuration and returns the
// distinct protocols asked for, defaulting to WSS and HTTPS.
func endpointProtocols(cfg *kvsapi.SingleMasterChannelEndpointConfiguration) ([]string, error) {
	if cfg == nil {
		return []string{kvsapi.ProtocolWSS, kvsapi.ProtocolHTTPS}, nil
	}
	if cfg.Role != nil && *cfg.Role != kvsapi.RoleMaster && *cfg.Role != kvsapi.RoleViewer {
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "SingleMasterChannelEndpointConfiguration.Role must be MASTER or VIEWER, got %q", *cfg.Role)
	}
	if cfg.Protocols == nil {
		return []string{kvsapi.ProtocolWSS, kvsapi.ProtocolHTTPS}, nil
	}
	if len(cfg.Protocols) < 1 || len(cfg.Protocols) > kvsapi.MaxProtocols {
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument,
			"SingleMasterChannelEndpointConfiguration.Protocols must list 1 to %d protocols, got %d", kvsapi.MaxProtocols, len(cfg.Protocols))
	}
	var out []string
	seen := map[string]bool{}
	for _, proto := range cfg.Protocols {
		switch proto {
		case kvsapi.ProtocolWSS, kvsapi.ProtocolHTTPS:
		case kvsapi.ProtocolWebRTC:
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument,
				"Protocol WEBRTC needs media storage, which this server does not offer; ask for WSS and HTTPS")
		default:
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "Protocols may contain only WSS, HTTPS or WEBRTC, got %q", proto)
		}
		if !seen[proto] {
			seen[proto] = true
			out = append(out, proto)
		}
	}
	return out, nil
}

func (a *API) getIceServerConfig(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.GetIceServerConfigInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ChannelARN == nil {
		return nil, required("ChannelARN")
	}
	clientID := ""
	if in.ClientId != nil {
		// Masters send a client id too (the C SDK sends "ProducerMaster"),
		// so only the pattern is checked, not the reserved prefix.
		if err := kvsapi.ValidateCorrelationID("ClientId", *in.ClientId); err != nil {
			return nil, err
		}
		clientID = *in.ClientId
	}
	if in.Service != nil && *in.Service != kvsapi.ServiceTURN {
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "Service must be TURN, got %q", *in.Service)
	}
	if in.Username != nil {
		if err := kvsapi.ValidateCorrelationID("Username", *in.Username); err != nil {
			return nil, err
		}
	}
	// A ChannelARN that is not an ARN is bad input however often it comes,
	// and must not become a quota key: check it before the quota.
	if _, err := kvsapi.ParseChannelARN("ChannelARN", *in.ChannelARN); err != nil {
		return nil, err
	}
	if err := a.ice.AdmitCall(p.Account, *in.ChannelARN); err != nil {
		return nil, err
	}
	ch, err := a.channels.ByARN(ctx, p.Account, "ChannelARN", *in.ChannelARN)
	if err != nil {
		return nil, err
	}
	servers, err := a.ice.IceServers(ctx, p, ch, clientID)
	if err != nil {
		return nil, err
	}
	return kvsapi.GetIceServerConfigOutput{IceServerList: servers}, nil
}

func (a *API) sendAlexaOfferToMaster(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.SendAlexaOfferToMasterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.ChannelARN == nil:
		return nil, required("ChannelARN")
	case in.SenderClientId == nil:
		return nil, required("SenderClientId")
	case in.MessagePayload == nil:
		return nil, required("MessagePayload")
	}
	// The hub checks the rest (the ARN, the client id, the payload against
	// the signaling limits) before it looks the channel up, so that a bad
	// input is reported as such whether or not the channel exists.
	if a.alexa == nil {
		return nil, kvsapi.Errorf(kvsapi.CodeResourceNotFound, "The channel's master is not connected")
	}
	answer, err := a.alexa.SendAlexaOffer(ctx, p.Account, *in.ChannelARN, *in.SenderClientId, *in.MessagePayload)
	if err != nil {
		return nil, err
	}
	return kvsapi.SendAlexaOfferToMasterOutput{Answer: answer}, nil
}
