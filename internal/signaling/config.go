package signaling

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-rtc/switchboard/internal/yamlerr"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Config is the signaling section of the server configuration. Every limit
// defaults to the AWS figure (spec section 8) where AWS has one.
type Config struct {
	// MaxViewersPerChannel is the number of concurrent viewer connections a
	// channel accepts (AWS soft quota 10).
	MaxViewersPerChannel int `yaml:"max_viewers_per_channel"`
	// MaxPayloadLength is the largest messagePayload accepted, in
	// characters (AWS 10 000).
	MaxPayloadLength int `yaml:"max_payload_length"`
	// MaxEventBytes refuses a message whose delivered event would be
	// larger, so that KVS C SDK peers (10 240-byte frames) can read it.
	MaxEventBytes int `yaml:"max_event_bytes"`

	// Per-connection message rates (AWS 5, 5 and 20 per second) and the
	// bursts the token buckets allow.
	SDPOffersPerSecond     float64 `yaml:"sdp_offers_per_second"`
	SDPOfferBurst          int     `yaml:"sdp_offer_burst"`
	SDPAnswersPerSecond    float64 `yaml:"sdp_answers_per_second"`
	SDPAnswerBurst         int     `yaml:"sdp_answer_burst"`
	ICECandidatesPerSecond float64 `yaml:"ice_candidates_per_second"`
	ICECandidateBurst      int     `yaml:"ice_candidate_burst"`

	// ConnectsPerSecondPerChannel limits new connections to one channel,
	// for masters and viewers separately (AWS ConnectAsMaster and
	// ConnectAsViewer, 3 per second each), counted on this node.
	ConnectsPerSecondPerChannel float64 `yaml:"connects_per_second_per_channel"`
	ConnectBurstPerChannel      int     `yaml:"connect_burst_per_channel"`
	// AlexaOffersPerSecondPerChannel limits SendAlexaOfferToMaster (AWS 5
	// per second per channel).
	AlexaOffersPerSecondPerChannel float64 `yaml:"alexa_offers_per_second_per_channel"`
	AlexaOfferBurstPerChannel      int     `yaml:"alexa_offer_burst_per_channel"`
	// AlexaOffersPerSecondPerAccount limits SendAlexaOfferToMaster across
	// all the channels of one account (AWS 100 per second), counted on
	// this node.
	AlexaOffersPerSecondPerAccount float64 `yaml:"alexa_offers_per_second_per_account"`
	AlexaOfferBurstPerAccount      int     `yaml:"alexa_offer_burst_per_account"`

	// IdleTimeout closes a connection from which nothing has been received
	// for that long. Data frames and pings from the client count; pongs
	// answering the server's own pings do not (they prove the peer is
	// alive, not that it is in use), so a silent browser is closed after
	// 10 minutes as on AWS while a C client, which pings every 10 s, is not.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnectionDuration closes every connection after that long (AWS
	// 1 h); GO_AWAY is sent GoAwayGrace earlier.
	MaxConnectionDuration Duration `yaml:"max_connection_duration"`
	GoAwayGrace           Duration `yaml:"go_away_grace"`
	// PingInterval is how often the server pings each connection to detect
	// dead peers; a peer that does not answer within PongTimeout is
	// dropped. 0 disables server pings.
	PingInterval Duration `yaml:"ping_interval"`
	PongTimeout  Duration `yaml:"pong_timeout"`
	// WriteTimeout bounds every frame write.
	WriteTimeout Duration `yaml:"write_timeout"`
	// SendQueueLength bounds the frames waiting to be written to one
	// connection; a connection whose queue overflows is dropped as a slow
	// reader. A master receives from all its viewers, hence the headroom.
	SendQueueLength int `yaml:"send_queue_length"`
	// ReadLimit is the largest frame accepted from a client; a larger one
	// closes the connection with 1009.
	ReadLimit int64 `yaml:"read_limit"`

	// Mailbox limits per channel (all absent recipients together).
	MailboxMaxMessagesPerChannel int   `yaml:"mailbox_max_messages_per_channel"`
	MailboxMaxBytesPerChannel    int64 `yaml:"mailbox_max_bytes_per_channel"`
	// HousekeepingInterval is how often Run expires mailboxes and refreshes
	// gauges.
	HousekeepingInterval Duration `yaml:"housekeeping_interval"`

	// ShutdownDrain is how long Shutdown waits after GO_AWAY before it
	// closes the remaining connections.
	ShutdownDrain Duration `yaml:"shutdown_drain"`
	// TakeoverHoldDown stops eviction ping-pong. A new connection with the
	// identity (channel master, or viewer client id) of a live one takes
	// over: the old connection gets GO_AWAY and a close saying it was
	// replaced. A KVS C client reconnects by itself when closed, so two
	// processes sharing one identity would otherwise evict each other
	// forever. Therefore a connection that got its identity by taking it
	// over is protected for this long: a further takeover while it is
	// still connected is refused at the handshake (400
	// ClientLimitExceededException explaining why). Once the holder has
	// disconnected, connecting is always allowed, so a genuine reconnect
	// never waits. 0 disables the protection (see
	// bus.SubscribeOptions.HoldDown).
	TakeoverHoldDown Duration `yaml:"takeover_hold_down"`
	// AlexaAnswerTimeout is how long SendAlexaOffer waits for the master's
	// answer; 0 means the channel's message TTL.
	AlexaAnswerTimeout Duration `yaml:"alexa_answer_timeout"`
}

// DefaultConfig returns the defaults: AWS figures where AWS has them.
func DefaultConfig() Config {
	return Config{
		MaxViewersPerChannel:           10,
		MaxPayloadLength:               kvsapi.MaxMessagePayloadLength,
		MaxEventBytes:                  kvsapi.MaxCEventLength,
		SDPOffersPerSecond:             5,
		SDPOfferBurst:                  10,
		SDPAnswersPerSecond:            5,
		SDPAnswerBurst:                 10,
		ICECandidatesPerSecond:         20,
		ICECandidateBurst:              50,
		ConnectsPerSecondPerChannel:    3,
		ConnectBurstPerChannel:         10,
		AlexaOffersPerSecondPerChannel: 5,
		AlexaOfferBurstPerChannel:      5,
		AlexaOffersPerSecondPerAccount: 100,
		AlexaOfferBurstPerAccount:      100,
		IdleTimeout:                    Duration(10 * time.Minute),
		MaxConnectionDuration:          Duration(time.Hour),
		GoAwayGrace:                    Duration(time.Minute),
		PingInterval:                   Duration(20 * time.Second),
		PongTimeout:                    Duration(10 * time.Second),
		WriteTimeout:                   Duration(10 * time.Second),
		SendQueueLength:                256,
		ReadLimit:                      64 << 10,
		MailboxMaxMessagesPerChannel:   1000,
		MailboxMaxBytesPerChannel:      4 << 20,
		HousekeepingInterval:           Duration(time.Second),
		ShutdownDrain:                  Duration(5 * time.Second),
		TakeoverHoldDown:               Duration(30 * time.Second),
	}
}

// minEventBytes leaves room for the envelope of the smallest event.
const minEventBytes = 128

// maxReadLimit bounds read_limit: a client frame is held whole in memory,
// and signaling messages are kilobytes.
const maxReadLimit = 64 << 20

// Validate reports every problem of the configuration at once, each naming
// its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("signaling.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	atLeast := func(key string, v, minimum int64) {
		if v < minimum {
			bad(key, "must be at least %d, got %d", minimum, v)
		}
	}
	positiveRate := func(key string, v float64) {
		if !(v > 0) || math.IsInf(v, 1) { // NaN fails the first test
			bad(key, "must be a finite number greater than 0, got %v", v)
		}
	}
	atLeast("max_viewers_per_channel", int64(c.MaxViewersPerChannel), 1)
	atLeast("max_payload_length", int64(c.MaxPayloadLength), 1)
	atLeast("max_event_bytes", int64(c.MaxEventBytes), minEventBytes)
	positiveRate("sdp_offers_per_second", c.SDPOffersPerSecond)
	positiveRate("sdp_answers_per_second", c.SDPAnswersPerSecond)
	positiveRate("ice_candidates_per_second", c.ICECandidatesPerSecond)
	positiveRate("connects_per_second_per_channel", c.ConnectsPerSecondPerChannel)
	positiveRate("alexa_offers_per_second_per_channel", c.AlexaOffersPerSecondPerChannel)
	positiveRate("alexa_offers_per_second_per_account", c.AlexaOffersPerSecondPerAccount)
	atLeast("sdp_offer_burst", int64(c.SDPOfferBurst), 1)
	atLeast("sdp_answer_burst", int64(c.SDPAnswerBurst), 1)
	atLeast("ice_candidate_burst", int64(c.ICECandidateBurst), 1)
	atLeast("connect_burst_per_channel", int64(c.ConnectBurstPerChannel), 1)
	atLeast("alexa_offer_burst_per_channel", int64(c.AlexaOfferBurstPerChannel), 1)
	atLeast("alexa_offer_burst_per_account", int64(c.AlexaOfferBurstPerAccount), 1)
	atLeast("send_queue_length", int64(c.SendQueueLength), 1)
	atLeast("mailbox_max_messages_per_channel", int64(c.MailboxMaxMessagesPerChannel), 1)
	atLeast("mailbox_max_bytes_per_channel", c.MailboxMaxBytesPerChannel, int64(c.MaxEventBytes))
	// A client frame carries the payload plus its own envelope and extra
	// members such as the C viewer's IceServerList.
	atLeast("read_limit", c.ReadLimit, int64(c.MaxPayloadLength)+1024)
	if c.ReadLimit > maxReadLimit {
		bad("read_limit", "must be at most %d (64 MiB), got %d", maxReadLimit, c.ReadLimit)
	}

	c.validateDurations(bad)
	if c.GoAwayGrace > 0 && c.GoAwayGrace >= c.MaxConnectionDuration {
		bad("go_away_grace", "must be shorter than max_connection_duration (%s), got %s", c.MaxConnectionDuration, c.GoAwayGrace)
	}
	if c.PingInterval > 0 && c.PongTimeout <= 0 {
		bad("pong_timeout", "must be a positive duration when ping_interval is set, got %s", c.PongTimeout)
	}
	return errors.Join(errs...)
}

// validateDurations checks the durations that must be positive, or may be
// zero to disable a feature or select a default.
func (c Config) validateDurations(bad func(key, format string, args ...any)) {
	for _, d := range []struct {
		key    string
		v      Duration
		zeroOK bool // 0 disables the feature or selects a default
	}{
		{"idle_timeout", c.IdleTimeout, false},
		{"max_connection_duration", c.MaxConnectionDuration, false},
		{"go_away_grace", c.GoAwayGrace, false},
		{"write_timeout", c.WriteTimeout, false},
		{"housekeeping_interval", c.HousekeepingInterval, false},
		{"ping_interval", c.PingInterval, true},
		{"shutdown_drain", c.ShutdownDrain, true},
		{"takeover_hold_down", c.TakeoverHoldDown, true},
		{"alexa_answer_timeout", c.AlexaAnswerTimeout, true},
	} {
		switch {
		case d.v < 0:
			bad(d.key, "must not be negative, got %s", d.v)
		case d.v == 0 && !d.zeroOK:
			bad(d.key, "must be a positive duration, got %s", d.v)
		}
	}
}

// Duration is a time.Duration written in configuration files as a Go
// duration string ("10s", "1m30s").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration string (used by environment and flag
// loaders as well as YAML).
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a Go duration such as 10s or 1m30s)", text)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML parses a duration in the configuration file; a bad one is
// reported with its line, and the rest of the file is still read.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	return yamlerr.Scalar(n, "a duration", func(v string) error { return d.UnmarshalText([]byte(v)) })
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
