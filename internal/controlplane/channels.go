package controlplane

import (
	"context"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

func (a *API) createSignalingChannel(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.CreateSignalingChannelInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ChannelName == nil {
		return nil, required("ChannelName")
	}
	if err := a.quotas.admitChannel(opCreateSignalingChannel, p.Account, in.ChannelName, nil); err != nil {
		return nil, err
	}
	create := channel.CreateInput{Name: *in.ChannelName, Tags: in.Tags}
	if in.ChannelType != nil {
		create.Type = *in.ChannelType
		if create.Type == "" {
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "ChannelType must be SINGLE_MASTER, got an empty string")
		}
	}
	if in.SingleMasterConfiguration != nil {
		create.MessageTTL = in.SingleMasterConfiguration.MessageTtlSeconds
	}
	ch, err := a.channels.Create(ctx, p.Account, create)
	if err != nil {
		return nil, err
	}
	return kvsapi.CreateSignalingChannelOutput{ChannelARN: ch.ARN}, nil
}

func (a *API) describeSignalingChannel(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.ChannelSelector
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := a.quotas.admitChannel(opDescribeSignalingChannel, p.Account, in.ChannelName, in.ChannelARN); err != nil {
		return nil, err
	}
	ch, err := a.channels.Resolve(ctx, p.Account, channel.Selector{Name: in.ChannelName, ARN: in.ChannelARN})
	if err != nil {
		return nil, err
	}
	return kvsapi.DescribeSignalingChannelOutput{ChannelInfo: channelInfo(ch)}, nil
}

func (a *API) listSignalingChannels(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.ListSignalingChannelsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	list := channel.ListInput{MaxResults: in.MaxResults, NextToken: in.NextToken}
	if c := in.ChannelNameCondition; c != nil {
		list.Operator, list.Prefix = c.ComparisonOperator, c.ComparisonValue
	}
	page, err := a.channels.List(ctx, p.Account, list)
	if err != nil {
		return nil, err
	}
	out := kvsapi.ListSignalingChannelsOutput{ChannelInfoList: make([]kvsapi.ChannelInfo, 0, len(page.Channels)), NextToken: page.NextToken}
	for _, ch := range page.Channels {
		out.ChannelInfoList = append(out.ChannelInfoList, channelInfo(ch))
	}
	return out, nil
}

func (a *API) updateSignalingChannel(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.UpdateSignalingChannelInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.ChannelARN == nil:
		return nil, required("ChannelARN")
	case in.CurrentVersion == nil:
		return nil, required("CurrentVersion")
	}
	if err := a.quotas.admitChannel(opUpdateSignalingChannel, p.Account, nil, in.ChannelARN); err != nil {
		return nil, err
	}
	var ttl *int
	if in.SingleMasterConfiguration != nil {
		ttl = in.SingleMasterConfiguration.MessageTtlSeconds
	}
	if _, err := a.channels.Update(ctx, p.Account, *in.ChannelARN, *in.CurrentVersion, ttl); err != nil {
		return nil, err
	}
	return kvsapi.Empty{}, nil
}

func (a *API) deleteSignalingChannel(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.DeleteSignalingChannelInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ChannelARN == nil {
		return nil, required("ChannelARN")
	}
	if err := a.quotas.admitChannel(opDeleteSignalingChannel, p.Account, nil, in.ChannelARN); err != nil {
		return nil, err
	}
	if _, err := a.channels.Delete(ctx, p.Account, *in.ChannelARN, in.CurrentVersion); err != nil {
		return nil, err
	}
	return kvsapi.Empty{}, nil
}

func (a *API) describeSignalingChannelConnections(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.DescribeSignalingChannelConnectionsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ChannelARN == nil {
		return nil, required("ChannelARN")
	}
	if err := a.quotas.admitChannel(opDescribeSignalingChannelConnections, p.Account, nil, in.ChannelARN); err != nil {
		return nil, err
	}
	ch, err := a.channels.ByARN(ctx, p.Account, "ChannelARN", *in.ChannelARN)
	if err != nil {
		return nil, err
	}
	master, viewers := a.presence.Presence(p.Account, ch.ARN)
	return kvsapi.DescribeSignalingChannelConnectionsOutput{MasterConnected: master, ViewerCount: viewers}, nil
}

func channelInfo(ch store.Channel) kvsapi.ChannelInfo {
	ttl := ch.MessageTTL
	return kvsapi.ChannelInfo{
		ChannelName:               ch.Name,
		ChannelARN:                ch.ARN,
		ChannelType:               ch.Type,
		ChannelStatus:             ch.Status,
		CreationTime:              kvsapi.EpochSeconds(ch.CreatedAt),
		SingleMasterConfiguration: &kvsapi.SingleMasterConfiguration{MessageTtlSeconds: &ttl},
		Version:                   ch.Version,
	}
}
