package signaling

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	// AWS figures (spec 8).
	if cfg.MaxViewersPerChannel != 10 || cfg.MaxPayloadLength != 10000 || cfg.MaxEventBytes != 10240 ||
		cfg.SDPOffersPerSecond != 5 || cfg.SDPAnswersPerSecond != 5 || cfg.ICECandidatesPerSecond != 20 ||
		cfg.ConnectsPerSecondPerChannel != 3 || cfg.AlexaOffersPerSecondPerChannel != 5 ||
		cfg.AlexaOffersPerSecondPerAccount != 100 || cfg.IdleTimeout.Std() != 10*time.Minute ||
		cfg.MaxConnectionDuration.Std() != time.Hour || cfg.GoAwayGrace.Std() != time.Minute {
		t.Fatalf("defaults differ from the AWS figures: %+v", cfg)
	}
}

func TestReadLimitHasACeiling(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReadLimit = maxReadLimit
	if err := cfg.Validate(); err != nil {
		t.Fatalf("64 MiB refused: %v", err)
	}
	cfg.ReadLimit = 3 << 30
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "signaling.read_limit: must be at most 67108864 (64 MiB), got 3221225472") {
		t.Fatalf("3 GiB: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxViewersPerChannel = 0
	cfg.SDPOffersPerSecond = -1
	cfg.IdleTimeout = 0
	cfg.GoAwayGrace = Duration(2 * time.Hour)
	cfg.PongTimeout = 0
	cfg.ShutdownDrain = -1
	cfg.ReadLimit = 100
	cfg.ConnectsPerSecondPerChannel = math.Inf(1)
	cfg.AlexaOffersPerSecondPerAccount = math.NaN()
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, key := range []string{
		"signaling.max_viewers_per_channel: must be at least 1",
		"signaling.sdp_offers_per_second:",
		"signaling.idle_timeout:",
		"signaling.go_away_grace: must be shorter than max_connection_duration",
		"signaling.pong_timeout:",
		"signaling.shutdown_drain: must not be negative",
		"signaling.read_limit:",
		"signaling.connects_per_second_per_channel: must be a finite number",
		"signaling.alexa_offers_per_second_per_account: must be a finite number",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not mention %q:\n%v", key, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 9 {
		t.Errorf("got %d problems, want 9:\n%v", n, err)
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
max_viewers_per_channel: 1000
idle_timeout: 5m
go_away_grace: 30s
takeover_hold_down: 0s
`
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewBufferString(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.MaxViewersPerChannel != 1000 || cfg.IdleTimeout.Std() != 5*time.Minute || cfg.GoAwayGrace.Std() != 30*time.Second ||
		cfg.TakeoverHoldDown != 0 || cfg.WriteTimeout.Std() != 10*time.Second {
		t.Fatalf("decoded %+v", cfg)
	}
	for _, bad := range []string{"idle_timeout: 10\n", "idle_timeout: [1s]\n", "idle_timout: 1s\n"} {
		c := DefaultConfig()
		d := yaml.NewDecoder(bytes.NewBufferString(bad))
		d.KnownFields(true)
		if err := d.Decode(&c); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	out, err := yaml.Marshal(DefaultConfig())
	if err != nil || !strings.Contains(string(out), "idle_timeout: 10m0s") {
		t.Fatalf("marshal: %v\n%s", err, out)
	}
}
