package kvsapi

// WebSocket message types (spec section 6). The first three are actions a
// client sends and message types it receives; the rest come only from the
// server.
const (
	ActionSDPOffer     = "SDP_OFFER"
	ActionSDPAnswer    = "SDP_ANSWER"
	ActionICECandidate = "ICE_CANDIDATE"

	MessageGoAway             = "GO_AWAY"
	MessageReconnectICEServer = "RECONNECT_ICE_SERVER"
	MessageStatusResponse     = "STATUS_RESPONSE"
)

// Presigned WebSocket URL query parameters specific to KVS (spec 6.1).
const (
	QueryChannelARN = "X-Amz-ChannelARN"
	QueryClientID   = "X-Amz-ClientId"
)

// MaxMessagePayloadLength is the documented limit of messagePayload
// (10 000 characters, spec 6.4.2).
const MaxMessagePayloadLength = 10000

// MaxCEventLength is the largest frame a C SDK peer accepts
// (MAX_SIGNALING_MESSAGE_LEN, spec 6.4.2).
const MaxCEventLength = 10 * 1024

// IsRelayedAction reports whether action is one a client may send.
func IsRelayedAction(action string) bool {
	switch action {
	case ActionSDPOffer, ActionSDPAnswer, ActionICECandidate:
		return true
	}
	return false
}

// ClientMessage is one frame a master or viewer sends. Member names are
// matched case-insensitively on decode (encoding/json does so), which
// accepts both the JS spelling (messagePayload) and the C one
// (MessagePayload); extra members such as the C viewer's IceServerList are
// ignored.
type ClientMessage struct {
	Action            string `json:"action"`
	RecipientClientID string `json:"recipientClientId,omitempty"`
	MessagePayload    string `json:"messagePayload"`
	CorrelationID     string `json:"correlationId,omitempty"`
}

// Event is one frame the server sends. Member names are lower camel case and
// exact: the C SDK matches them byte for byte (spec 6.5).
type Event struct {
	SenderClientID string          `json:"senderClientId,omitempty"`
	MessageType    string          `json:"messageType"`
	MessagePayload string          `json:"messagePayload,omitempty"`
	StatusResponse *StatusResponse `json:"statusResponse,omitempty"`
}

// StatusResponse reports a failed client message that carried a correlation
// id (spec 6.5.2). StatusCode is a string of digits.
type StatusResponse struct {
	CorrelationID string `json:"correlationId"`
	Success       bool   `json:"success"`
	ErrorType     string `json:"errorType,omitempty"`
	StatusCode    string `json:"statusCode,omitempty"`
	Description   string `json:"description,omitempty"`
}
