package controlplane

import (
	"math"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDefaultLimitsAreTheAWSQuotas checks the defaults against the table
// of spec section 8.
func TestDefaultLimitsAreTheAWSQuotas(t *testing.T) {
	cfg := DefaultConfig()
	if !cfg.RateLimits {
		t.Fatal("rate limits are off by default")
	}
	want := map[string][2]float64{ // account, channel per second
		"CreateSignalingChannel":            {50, 0},
		"DeleteSignalingChannel":            {50, 5},
		"DescribeMediaStorageConfiguration": {50, 5},
		"DescribeSignalingChannel":          {300, 5},
		"GetSignalingChannelEndpoint":       {300, 0},
		"ListSignalingChannels":             {50, 0},
		"ListTagsForResource":               {50, 5},
		"TagResource":                       {50, 5},
		"UntagResource":                     {50, 5},
		"UpdateMediaStorageConfiguration":   {10, 5},
		"UpdateSignalingChannel":            {50, 5},
	}
	for op, w := range want {
		l, ok := cfg.Operations[op]
		if !ok || l.AccountPerSecond != w[0] || l.ChannelPerSecond != w[1] || l.AccountBurst != 0 || l.ChannelBurst != 0 {
			t.Errorf("%s: %+v, want %v per second per account and %v per channel, bursts following the rates", op, l, w[0], w[1])
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestBurstDefaultsToOneSecond(t *testing.T) {
	for _, c := range []struct {
		rate      float64
		burst     int
		wantBurst float64
	}{{5, 0, 5}, {300, 0, 300}, {0.5, 0, 1}, {5, 12, 12}} {
		r, ok := rule(c.rate, c.burst)
		if !ok || r.Rate != c.rate || r.Burst != c.wantBurst {
			t.Errorf("rule(%v, %d) = %+v %v, want burst %v", c.rate, c.burst, r, ok, c.wantBurst)
		}
	}
	if _, ok := rule(0, 10); ok {
		t.Error("a rate of 0 makes a limit")
	}
}

// TestFileEntriesOverlayTheDefaults: an entry changes only the keys it
// gives, and the other operations keep their defaults.
func TestFileEntriesOverlayTheDefaults(t *testing.T) {
	cfg := DefaultConfig()
	doc := `
rate_limits: true
operations:
  DescribeSignalingChannel:
    channel_per_second: 20
    channel_burst: 40
`
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	got := cfg.Operations["DescribeSignalingChannel"]
	if got != (Limits{AccountPerSecond: 300, ChannelPerSecond: 20, ChannelBurst: 40}) {
		t.Errorf("DescribeSignalingChannel: %+v", got)
	}
	if got := cfg.Operations["TagResource"]; got != (Limits{AccountPerSecond: 50, ChannelPerSecond: 5}) {
		t.Errorf("TagResource lost its default: %+v", got)
	}
}

func TestFileEntryErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"operations:\n  DescribeSignalingChannel:\n    chanel_per_second: 1\n", `control_plane.operations.DescribeSignalingChannel: line 3: unknown key "chanel_per_second"`},
		{"operations:\n  DescribeSignalingChannel: 5\n", "control_plane.operations.DescribeSignalingChannel: line 2: must be a mapping"},
		{"operations: [1]\n", "control_plane.operations must map operation names"},
		{"operations:\n  TagResource:\n    account_burst: many\n", "control_plane.operations.TagResource:"},
	} {
		cfg := DefaultConfig()
		err := yaml.Unmarshal([]byte(c.doc), &cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.doc, err, c.want)
		}
	}
}

func TestValidateNamesTheKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Operations["DescribeSignalingChanel"] = Limits{AccountPerSecond: 1}
	cfg.Operations["GetIceServerConfig"] = Limits{AccountPerSecond: 1}
	cfg.Operations["TagResource"] = Limits{AccountPerSecond: -1, AccountBurst: -2, ChannelPerSecond: math.Inf(1), ChannelBurst: -3}
	cfg.Operations["ListSignalingChannels"] = Limits{AccountPerSecond: 50, ChannelPerSecond: 5}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"control_plane.operations.DescribeSignalingChanel: no such operation; the operations are CreateSignalingChannel,",
		"control_plane.operations.GetIceServerConfig: GetIceServerConfig is limited by turn.get_ice_server_config_per_second",
		"control_plane.operations.TagResource.account_per_second: must be 0 (no limit) or a positive number, got -1",
		"control_plane.operations.TagResource.account_burst: must be 0",
		"control_plane.operations.TagResource.channel_per_second: must be 0 (no limit) or a positive number, got +Inf",
		"control_plane.operations.TagResource.channel_burst: must be 0",
		"control_plane.operations.ListSignalingChannels.channel_per_second: ListSignalingChannels names no channel",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors do not say %q:\n%v", want, err)
		}
	}
}
