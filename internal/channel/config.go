package channel

import (
	"errors"
	"fmt"
)

// DefaultMaxChannelsPerAccount is the KVS quota of signaling channels per
// account in us-east-1 and us-west-2.
const DefaultMaxChannelsPerAccount = 10000

// Config is the channel section of the server configuration.
type Config struct {
	// MaxPerAccount caps how many channels one account may hold; 0 means
	// no cap.
	MaxPerAccount int `yaml:"max_per_account"`
}

// DefaultConfig returns the channel defaults.
func DefaultConfig() Config {
	return Config{MaxPerAccount: DefaultMaxChannelsPerAccount}
}

// Validate reports every problem of the section, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.MaxPerAccount < 0 {
		errs = append(errs, fmt.Errorf("channels.max_per_account: must be 0 (no limit) or positive, got %d", c.MaxPerAccount))
	}
	return errors.Join(errs...)
}
