package kvsapi

// ServiceTURN is the only value of GetIceServerConfig's Service member.
const ServiceTURN = "TURN"

// GetIceServerConfigInput is the body of GetIceServerConfig.
type GetIceServerConfigInput struct {
	ChannelARN *string `json:"ChannelARN"`
	ClientId   *string `json:"ClientId,omitempty"` //nolint:revive // wire name
	Service    *string `json:"Service,omitempty"`
	Username   *string `json:"Username,omitempty"`
}

// IceServer is one entry of an ICE configuration: URIs sharing credentials.
type IceServer struct {
	Uris     []string `json:"Uris"`
	Username string   `json:"Username"`
	Password string   `json:"Password"`
	Ttl      int      `json:"Ttl"` //nolint:revive // wire name
}

// GetIceServerConfigOutput is the reply of GetIceServerConfig.
type GetIceServerConfigOutput struct {
	IceServerList []IceServer `json:"IceServerList"`
}

// SendAlexaOfferToMasterInput is the body of SendAlexaOfferToMaster.
type SendAlexaOfferToMasterInput struct {
	ChannelARN     *string `json:"ChannelARN"`
	SenderClientId *string `json:"SenderClientId"` //nolint:revive // wire name
	MessagePayload *string `json:"MessagePayload"`
}

// SendAlexaOfferToMasterOutput is the reply of SendAlexaOfferToMaster.
type SendAlexaOfferToMasterOutput struct {
	Answer string `json:"Answer"`
}
