package kvsapi

// Enumerations of the control-plane model.
const (
	ChannelTypeSingleMaster = "SINGLE_MASTER"
	ChannelTypeFullMesh     = "FULL_MESH"

	ChannelStatusCreating = "CREATING"
	ChannelStatusActive   = "ACTIVE"
	ChannelStatusUpdating = "UPDATING"
	ChannelStatusDeleting = "DELETING"

	RoleMaster = "MASTER"
	RoleViewer = "VIEWER"

	ProtocolWSS    = "WSS"
	ProtocolHTTPS  = "HTTPS"
	ProtocolWebRTC = "WEBRTC"

	ComparisonBeginsWith = "BEGINS_WITH"

	MediaStorageEnabled  = "ENABLED"
	MediaStorageDisabled = "DISABLED"
)

// Operation paths. Every operation is a POST of a JSON object to one of these.
const (
	PathCreateSignalingChannel            = "/createSignalingChannel"
	PathDescribeSignalingChannel          = "/describeSignalingChannel"
	PathListSignalingChannels             = "/listSignalingChannels"
	PathUpdateSignalingChannel            = "/updateSignalingChannel"
	PathDeleteSignalingChannel            = "/deleteSignalingChannel"
	PathTagResource                       = "/TagResource"
	PathUntagResource                     = "/UntagResource"
	PathListTagsForResource               = "/ListTagsForResource"
	PathDescribeMediaStorageConfiguration = "/describeMediaStorageConfiguration"
	PathUpdateMediaStorageConfiguration   = "/updateMediaStorageConfiguration"
	PathGetSignalingChannelEndpoint       = "/getSignalingChannelEndpoint"
	PathGetIceServerConfig                = "/v1/get-ice-server-config"
	PathSendAlexaOfferToMaster            = "/v1/send-alexa-offer-to-master"
)

// Tag is one key/value pair as it appears in request lists.
type Tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

// SingleMasterConfiguration carries the message TTL of a channel.
type SingleMasterConfiguration struct {
	MessageTtlSeconds *int `json:"MessageTtlSeconds,omitempty"`
}

// ChannelInfo describes one channel in Describe and List replies.
type ChannelInfo struct {
	ChannelName               string                     `json:"ChannelName"`
	ChannelARN                string                     `json:"ChannelARN"`
	ChannelType               string                     `json:"ChannelType"`
	ChannelStatus             string                     `json:"ChannelStatus"`
	CreationTime              EpochSeconds               `json:"CreationTime"`
	SingleMasterConfiguration *SingleMasterConfiguration `json:"SingleMasterConfiguration,omitempty"`
	Version                   string                     `json:"Version"`
}

// CreateSignalingChannelInput is the body of CreateSignalingChannel.
type CreateSignalingChannelInput struct {
	ChannelName               *string                    `json:"ChannelName"`
	ChannelType               *string                    `json:"ChannelType,omitempty"`
	SingleMasterConfiguration *SingleMasterConfiguration `json:"SingleMasterConfiguration,omitempty"`
	Tags                      []Tag                      `json:"Tags,omitempty"`
}

// CreateSignalingChannelOutput is the reply of CreateSignalingChannel.
type CreateSignalingChannelOutput struct {
	ChannelARN string `json:"ChannelARN"`
}

// ChannelSelector names a channel by name, by ARN, or both (Describe and
// DescribeMediaStorageConfiguration).
type ChannelSelector struct {
	ChannelName *string `json:"ChannelName,omitempty"`
	ChannelARN  *string `json:"ChannelARN,omitempty"`
}

// DescribeSignalingChannelOutput is the reply of DescribeSignalingChannel.
type DescribeSignalingChannelOutput struct {
	ChannelInfo ChannelInfo `json:"ChannelInfo"`
}

// ChannelNameCondition filters ListSignalingChannels by name prefix.
type ChannelNameCondition struct {
	ComparisonOperator *string `json:"ComparisonOperator,omitempty"`
	ComparisonValue    *string `json:"ComparisonValue,omitempty"`
}

// ListSignalingChannelsInput is the body of ListSignalingChannels.
type ListSignalingChannelsInput struct {
	MaxResults           *int                  `json:"MaxResults,omitempty"`
	NextToken            *string               `json:"NextToken,omitempty"`
	ChannelNameCondition *ChannelNameCondition `json:"ChannelNameCondition,omitempty"`
}

// ListSignalingChannelsOutput is the reply of ListSignalingChannels.
type ListSignalingChannelsOutput struct {
	ChannelInfoList []ChannelInfo `json:"ChannelInfoList"`
	NextToken       string        `json:"NextToken,omitempty"`
}

// UpdateSignalingChannelInput is the body of UpdateSignalingChannel.
type UpdateSignalingChannelInput struct {
	ChannelARN                *string                    `json:"ChannelARN"`
	CurrentVersion            *string                    `json:"CurrentVersion"`
	SingleMasterConfiguration *SingleMasterConfiguration `json:"SingleMasterConfiguration,omitempty"`
}

// DeleteSignalingChannelInput is the body of DeleteSignalingChannel.
type DeleteSignalingChannelInput struct {
	ChannelARN     *string `json:"ChannelARN"`
	CurrentVersion *string `json:"CurrentVersion,omitempty"`
}

// TagResourceInput is the body of TagResource.
type TagResourceInput struct {
	ResourceARN *string `json:"ResourceARN"`
	Tags        []Tag   `json:"Tags"`
}

// UntagResourceInput is the body of UntagResource.
type UntagResourceInput struct {
	ResourceARN *string   `json:"ResourceARN"`
	TagKeyList  []*string `json:"TagKeyList"`
}

// ListTagsForResourceInput is the body of ListTagsForResource.
type ListTagsForResourceInput struct {
	ResourceARN *string `json:"ResourceARN"`
	NextToken   *string `json:"NextToken,omitempty"`
}

// ListTagsForResourceOutput is the reply of ListTagsForResource.
type ListTagsForResourceOutput struct {
	Tags      map[string]string `json:"Tags"`
	NextToken string            `json:"NextToken,omitempty"`
}

// MediaStorageConfiguration says whether a channel ingests media.
type MediaStorageConfiguration struct {
	Status    *string `json:"Status"`
	StreamARN *string `json:"StreamARN,omitempty"`
}

// DescribeMediaStorageConfigurationOutput is the reply of
// DescribeMediaStorageConfiguration.
type DescribeMediaStorageConfigurationOutput struct {
	MediaStorageConfiguration MediaStorageConfiguration `json:"MediaStorageConfiguration"`
}

// UpdateMediaStorageConfigurationInput is the body of
// UpdateMediaStorageConfiguration.
type UpdateMediaStorageConfigurationInput struct {
	ChannelARN                *string                    `json:"ChannelARN"`
	MediaStorageConfiguration *MediaStorageConfiguration `json:"MediaStorageConfiguration"`
}

// SingleMasterChannelEndpointConfiguration selects protocols and role in
// GetSignalingChannelEndpoint.
type SingleMasterChannelEndpointConfiguration struct {
	Protocols []string `json:"Protocols,omitempty"`
	Role      *string  `json:"Role,omitempty"`
}

// GetSignalingChannelEndpointInput is the body of GetSignalingChannelEndpoint.
type GetSignalingChannelEndpointInput struct {
	ChannelARN                               *string                                   `json:"ChannelARN"`
	SingleMasterChannelEndpointConfiguration *SingleMasterChannelEndpointConfiguration `json:"SingleMasterChannelEndpointConfiguration,omitempty"`
}

// ResourceEndpoint is one protocol's endpoint.
type ResourceEndpoint struct {
	Protocol         string `json:"Protocol"`
	ResourceEndpoint string `json:"ResourceEndpoint"`
}

// GetSignalingChannelEndpointOutput is the reply of GetSignalingChannelEndpoint.
type GetSignalingChannelEndpointOutput struct {
	ResourceEndpointList []ResourceEndpoint `json:"ResourceEndpointList"`
}

// Empty is the reply of operations whose output shape has no members.
type Empty struct{}

// PathDescribeSignalingChannelConnections is a Switchboard extension (not a
// KVS operation): it reports who is connected to a channel, for consoles and
// monitoring. It is signed and authorised like every other operation. The
// path carries a prefix of its own so that it can never collide with an
// operation AWS adds later.
const PathDescribeSignalingChannelConnections = "/switchboard/describeSignalingChannelConnections"

// DescribeSignalingChannelConnectionsInput names the channel by ARN.
type DescribeSignalingChannelConnectionsInput struct {
	ChannelARN *string `json:"ChannelARN"`
}

// DescribeSignalingChannelConnectionsOutput says whether a master is
// connected and how many viewers are.
type DescribeSignalingChannelConnectionsOutput struct {
	MasterConnected bool `json:"MasterConnected"`
	ViewerCount     int  `json:"ViewerCount"`
}
