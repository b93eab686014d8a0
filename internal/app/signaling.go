package app

import (
	"context"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/signaling"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// channelDirectory lets the signaling hub resolve the channel of a
// presigned URL through the channel service, with the same account
// isolation as the control plane.
type channelDirectory struct{ channels *channel.Service }

var _ signaling.ChannelDirectory = channelDirectory{}

func (d channelDirectory) LookupChannel(ctx context.Context, account, channelARN string) (signaling.ChannelInfo, error) {
	ch, err := d.channels.ByARN(ctx, account, kvsapi.QueryChannelARN, channelARN)
	if err != nil {
		return signaling.ChannelInfo{}, err
	}
	if ch.Status != kvsapi.ChannelStatusActive && ch.Status != kvsapi.ChannelStatusUpdating {
		return signaling.ChannelInfo{}, kvsapi.Errorf(kvsapi.CodeResourceNotFound, "%s", kvsapi.ChannelNotFoundMessage)
	}
	return signaling.ChannelInfo{ARN: ch.ARN, Name: ch.Name, MessageTTL: time.Duration(ch.MessageTTL) * time.Second}, nil
}
