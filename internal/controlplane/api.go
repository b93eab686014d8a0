// Package controlplane serves the KVS REST operations: the channel control
// plane (create, describe, list, update, delete, tags, media storage,
// endpoints) and the HTTPS data plane (GetIceServerConfig,
// SendAlexaOfferToMaster). Each operation decodes its JSON body, checks
// required members, calls the channel service or a consumer-declared
// dependency, and returns a value or an error; one adapter authenticates,
// writes the reply in the AWS shape, records metrics and logs once. The
// package also owns the operations' call-rate quotas per account and per
// channel (spec section 8) and their configuration section, Config.
//
// It must not know about WebSocket connections or TURN internals: it reaches
// them only through the small interfaces declared here.
package controlplane

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Authenticator verifies header-signed requests.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) (auth.Principal, error)
}

// IceServerProvider builds the ICE server list GetIceServerConfig returns
// for a channel. clientID is the request's ClientId ("" when absent).
// AdmitCall takes one call from the channel's GetIceServerConfig quota
// before anything is read, and refuses with a *kvsapi.Error when it is
// spent.
type IceServerProvider interface {
	AdmitCall(account, channelARN string) error
	IceServers(ctx context.Context, p auth.Principal, ch store.Channel, clientID string) ([]kvsapi.IceServer, error)
}

// AlexaRelay delivers an offer to a channel's master and waits for its
// answer (SendAlexaOfferToMaster).
type AlexaRelay interface {
	SendAlexaOffer(ctx context.Context, account, channelARN, senderClientID, payload string) (string, error)
}

// PresenceReader reports who is connected to a channel.
type PresenceReader interface {
	Presence(account, channelARN string) (masterConnected bool, viewers int)
}

// Endpoints are the base URLs handed out by GetSignalingChannelEndpoint.
type Endpoints struct {
	HTTPS string // e.g. https://localhost:8443
	WSS   string // e.g. wss://localhost:8443
}

// Options are the dependencies of an API.
type Options struct {
	Channels     *channel.Service
	Auth         Authenticator
	Endpoints    Endpoints
	IceServers   IceServerProvider
	Alexa        AlexaRelay
	Presence     PresenceReader
	MaxBodyBytes int64
	Logger       *slog.Logger
	Registerer   prometheus.Registerer

	// Limits are the call rates of the operations; the zero value has
	// them off. The server passes its control_plane section.
	Limits Config
	// Now is the clock of the rate limits; time.Now when nil.
	Now func() time.Time

	// BodyReadTimeout bounds how long a request body may take to arrive
	// once the headers are in; zero means DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
}

// DefaultBodyReadTimeout is generous for the small bodies of this API
// (well under 10 KiB) even on a poor mobile link, and short enough that
// connections held open by slow senders do not pile up.
const DefaultBodyReadTimeout = 20 * time.Second

// API is the REST surface. It is an http.Handler for POST requests to the
// operation paths.
type API struct {
	channels   *channel.Service
	auth       Authenticator
	endpoints  Endpoints
	ice        IceServerProvider
	alexa      AlexaRelay
	presence   PresenceReader
	maxBody    int64
	log        *slog.Logger
	metrics    *metrics
	quotas     *quotas
	operations map[string]operation

	// bodyTimeout bounds the reading of a request body.
	bodyTimeout time.Duration
}

// operation is one REST operation.
type operation struct {
	name string
	run  func(ctx context.Context, p auth.Principal, body []byte) (any, error)
}

// New builds the API and registers its metrics.
func New(opts Options) (*API, error) {
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{
		channels:  opts.Channels,
		auth:      opts.Auth,
		endpoints: opts.Endpoints,
		ice:       opts.IceServers,
		alexa:     opts.Alexa,
		presence:  opts.Presence,
		maxBody:   opts.MaxBodyBytes,
		log:       log.With("component", "controlplane"),
		metrics:   m,
		quotas:    newQuotas(opts.Limits, opts.Now, m.throttled),
	}
	a.bodyTimeout = opts.BodyReadTimeout
	if a.bodyTimeout <= 0 {
		a.bodyTimeout = DefaultBodyReadTimeout
	}
	a.operations = map[string]operation{
		kvsapi.PathCreateSignalingChannel:            {opCreateSignalingChannel, a.createSignalingChannel},
		kvsapi.PathDescribeSignalingChannel:          {opDescribeSignalingChannel, a.describeSignalingChannel},
		kvsapi.PathListSignalingChannels:             {opListSignalingChannels, a.listSignalingChannels},
		kvsapi.PathUpdateSignalingChannel:            {opUpdateSignalingChannel, a.updateSignalingChannel},
		kvsapi.PathDeleteSignalingChannel:            {opDeleteSignalingChannel, a.deleteSignalingChannel},
		kvsapi.PathTagResource:                       {opTagResource, a.tagResource},
		kvsapi.PathUntagResource:                     {opUntagResource, a.untagResource},
		kvsapi.PathListTagsForResource:               {opListTagsForResource, a.listTagsForResource},
		kvsapi.PathDescribeMediaStorageConfiguration: {opDescribeMediaStorageConfiguration, a.describeMediaStorageConfiguration},
		kvsapi.PathUpdateMediaStorageConfiguration:   {opUpdateMediaStorageConfiguration, a.updateMediaStorageConfiguration},
		kvsapi.PathGetSignalingChannelEndpoint:       {opGetSignalingChannelEndpoint, a.getSignalingChannelEndpoint},
		kvsapi.PathGetIceServerConfig:                {opGetIceServerConfig, a.getIceServerConfig},
		kvsapi.PathSendAlexaOfferToMaster:            {opSendAlexaOfferToMaster, a.sendAlexaOfferToMaster},
	}
	if a.presence != nil {
		a.operations[kvsapi.PathDescribeSignalingChannelConnections] = operation{opDescribeSignalingChannelConnections, a.describeSignalingChannelConnections}
	}
	return a, nil
}

// Handles reports whether path is one of the operation paths.
func (a *API) Handles(path string) bool {
	_, ok := a.operations[path]
	return ok
}
