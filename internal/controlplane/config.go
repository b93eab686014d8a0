package controlplane

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-rtc/switchboard/internal/ratelimit"
)

// Config is the control_plane section of the server configuration: the
// call rates of the REST operations (spec section 8). Each rate is counted
// per account (the signer's) and, for the operations that name a channel,
// per channel, on this node.
type Config struct {
	// RateLimits switches every limit of this section on (the default) or
	// off.
	RateLimits bool `yaml:"rate_limits"`
	// Operations holds the limits by operation name, as AWS spells it
	// (DescribeSignalingChannel). An operation left out keeps its default;
	// an entry in the file changes only the keys it gives.
	Operations Operations `yaml:"operations"`
}

// Limits are one operation's call rates. A rate of 0 means no limit at
// that level. A burst of 0 means one second's worth of the rate, at least
// 1 call; a burst is ignored while its rate is 0.
type Limits struct {
	AccountPerSecond float64 `yaml:"account_per_second"`
	AccountBurst     int     `yaml:"account_burst"`
	ChannelPerSecond float64 `yaml:"channel_per_second"`
	ChannelBurst     int     `yaml:"channel_burst"`
}

// Operations maps operation names to their limits.
type Operations map[string]Limits

// Names of the operations, as metrics, logs and the control_plane keys
// spell them.
const (
	opCreateSignalingChannel              = "CreateSignalingChannel"
	opDescribeSignalingChannel            = "DescribeSignalingChannel"
	opListSignalingChannels               = "ListSignalingChannels"
	opUpdateSignalingChannel              = "UpdateSignalingChannel"
	opDeleteSignalingChannel              = "DeleteSignalingChannel"
	opTagResource                         = "TagResource"
	opUntagResource                       = "UntagResource"
	opListTagsForResource                 = "ListTagsForResource"
	opDescribeMediaStorageConfiguration   = "DescribeMediaStorageConfiguration"
	opUpdateMediaStorageConfiguration     = "UpdateMediaStorageConfiguration"
	opGetSignalingChannelEndpoint         = "GetSignalingChannelEndpoint"
	opGetIceServerConfig                  = "GetIceServerConfig"
	opSendAlexaOfferToMaster              = "SendAlexaOfferToMaster"
	opDescribeSignalingChannelConnections = "DescribeSignalingChannelConnections"
)

// defaultLimits are the AWS quotas of spec section 8, and our choice for
// DescribeSignalingChannelConnections, which AWS does not have: the
// figures of DescribeSignalingChannel, which it resembles (the console
// asks it for every listed channel every few seconds).
// CreateSignalingChannel and GetSignalingChannelEndpoint have no AWS
// channel quota; theirs may be set.
func defaultLimits() Operations {
	const account, channel = 50, 5
	return Operations{
		opCreateSignalingChannel:              {AccountPerSecond: account},
		opDeleteSignalingChannel:              {AccountPerSecond: account, ChannelPerSecond: channel},
		opDescribeMediaStorageConfiguration:   {AccountPerSecond: account, ChannelPerSecond: channel},
		opDescribeSignalingChannel:            {AccountPerSecond: 300, ChannelPerSecond: channel},
		opGetSignalingChannelEndpoint:         {AccountPerSecond: 300},
		opListSignalingChannels:               {AccountPerSecond: account},
		opListTagsForResource:                 {AccountPerSecond: account, ChannelPerSecond: channel},
		opTagResource:                         {AccountPerSecond: account, ChannelPerSecond: channel},
		opUntagResource:                       {AccountPerSecond: account, ChannelPerSecond: channel},
		opUpdateMediaStorageConfiguration:     {AccountPerSecond: 10, ChannelPerSecond: channel},
		opUpdateSignalingChannel:              {AccountPerSecond: account, ChannelPerSecond: channel},
		opDescribeSignalingChannelConnections: {AccountPerSecond: 300, ChannelPerSecond: channel},
	}
}

// limitedElsewhere are the data-plane operations, whose limits have
// settings of their own.
var limitedElsewhere = map[string]string{
	opGetIceServerConfig:     "turn.get_ice_server_config_per_second and turn.get_ice_server_config_burst",
	opSendAlexaOfferToMaster: "the signaling.alexa_offer* settings",
}

// DefaultConfig returns the AWS quotas, switched on.
func DefaultConfig() Config {
	return Config{RateLimits: true, Operations: defaultLimits()}
}

// limits returns the limits of op: the configured ones, else the default.
func (c Config) limits(op string) (Limits, bool) {
	if l, ok := c.Operations[op]; ok {
		return l, true
	}
	l, ok := defaultLimits()[op]
	return l, ok
}

// Validate reports every problem of the section at once, each naming its
// key.
func (c Config) Validate() error {
	var errs []error
	known := defaultLimits()
	for _, name := range slices.Sorted(maps.Keys(c.Operations)) {
		key := "control_plane.operations." + name
		if where, ok := limitedElsewhere[name]; ok {
			errs = append(errs, fmt.Errorf("%s: %s is limited by %s, not here", key, name, where))
			continue
		}
		if _, ok := known[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: no such operation; the operations are %s",
				key, strings.Join(slices.Sorted(maps.Keys(known)), ", ")))
			continue
		}
		errs = append(errs, c.Operations[name].validate(key, name)...)
	}
	return errors.Join(errs...)
}

func (l Limits) validate(key, op string) []error {
	var errs []error
	rate := func(field string, v float64) {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("%s.%s: must be 0 (no limit) or a positive number, got %v", key, field, v))
		}
	}
	burst := func(field string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must be 0 (one second's worth of the rate) or positive, got %d", key, field, v))
		}
	}
	rate("account_per_second", l.AccountPerSecond)
	burst("account_burst", l.AccountBurst)
	rate("channel_per_second", l.ChannelPerSecond)
	burst("channel_burst", l.ChannelBurst)
	if op == opListSignalingChannels && l.ChannelPerSecond != 0 {
		errs = append(errs, fmt.Errorf("%s.channel_per_second: %s names no channel, so it has no channel limit; got %v", key, op, l.ChannelPerSecond))
	}
	return errs
}

// rule is the token-bucket rule of a rate and burst; ok is false when the
// rate is 0 (no limit).
func rule(perSecond float64, burst int) (r ratelimit.Rule, ok bool) {
	if !(perSecond > 0) {
		return ratelimit.Rule{}, false
	}
	b := float64(burst)
	if burst <= 0 {
		b = max(1, perSecond)
	}
	return ratelimit.Rule{Rate: perSecond, Burst: b}, true
}

// limitKeys are the keys of an operation's entry.
var limitKeys = []string{"account_per_second", "account_burst", "channel_per_second", "channel_burst"}

// UnmarshalYAML lays the file's entries over the limits already there
// (the defaults), so that an entry changes only the keys it gives. A
// key of an entry that is not one of limitKeys is an error, as for the
// rest of the file; an unknown operation name is left for Validate.
//
// Problems are returned as one *yaml.TypeError, which yaml.v3 records
// before it goes on with the rest of the file; any other error would end
// the decoding there, and the file's later problems would go unreported.
// An entry's known keys are decoded despite its unknown ones, so that
// Validate reports their values too.
func (o *Operations) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return yamlProblems(fmt.Sprintf("line %d: control_plane.operations must map operation names to their limits", n.Line))
	}
	if *o == nil {
		*o = Operations{}
	}
	var problems []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, value := n.Content[i].Value, n.Content[i+1]
		key := "control_plane.operations." + name
		if seen[name] {
			problems = append(problems, fmt.Sprintf("line %d: %s is given twice", n.Content[i].Line, key))
			continue
		}
		seen[name] = true
		l := (*o)[name]
		for _, p := range l.overlay(value) {
			problems = append(problems, key+": "+p)
		}
		(*o)[name] = l
	}
	if len(problems) > 0 {
		return yamlProblems(problems...)
	}
	return nil
}

// overlay decodes an entry's keys onto l and returns its problems, each
// starting with its line.
func (l *Limits) overlay(n *yaml.Node) []string {
	if n.Kind != yaml.MappingNode {
		return []string{fmt.Sprintf("line %d: must be a mapping of %s", n.Line, strings.Join(limitKeys, ", "))}
	}
	var problems []string
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(limitKeys, k.Value) {
			problems = append(problems, fmt.Sprintf("line %d: unknown key %q (the keys are %s)", k.Line, k.Value, strings.Join(limitKeys, ", ")))
		}
	}
	err := n.Decode(l) // ignores the unknown keys reported above
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		problems = append(problems, te.Errors...)
	case err != nil:
		problems = append(problems, fmt.Sprintf("line %d: %v", n.Line, err))
	}
	return problems
}

// yamlProblems is problems in the form yaml.v3 records without stopping.
func yamlProblems(problems ...string) error {
	return &yaml.TypeError{Errors: problems}
}
