package bolt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// recordVersion is the value of the "v" field this code writes and reads.
const recordVersion = 1

// record is the JSON value stored under a channel name. The account and
// the name are the keys, so they are not repeated here. Adding an optional
// field keeps the version; any change an older reader would misread
// needs a new version.
type record struct {
	V          int               `json:"v"`
	ARN        string            `json:"arn,omitempty"`
	Type       string            `json:"type,omitempty"`
	Status     string            `json:"status,omitempty"`
	CreatedAt  time.Time         `json:"createdAt"`
	MessageTTL int               `json:"messageTtl,omitempty"`
	Version    string            `json:"version,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// encodeChannel returns the stored form of ch. CreatedAt is kept in UTC
// with full precision.
func encodeChannel(ch store.Channel) ([]byte, error) {
	raw, err := json.Marshal(record{
		V:          recordVersion,
		ARN:        ch.ARN,
		Type:       ch.Type,
		Status:     ch.Status,
		CreatedAt:  ch.CreatedAt.UTC(),
		MessageTTL: ch.MessageTTL,
		Version:    ch.Version,
		Tags:       ch.Tags,
	})
	if err != nil {
		return nil, fmt.Errorf("encode channel %s/%s: %w", ch.Account, ch.Name, err)
	}
	return raw, nil
}

// decodeChannel rebuilds the channel stored under (account, name). The
// result shares no memory with raw, which bbolt only lends for the length
// of a transaction.
func decodeChannel(account, name string, raw []byte) (store.Channel, error) {
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return store.Channel{}, fmt.Errorf("%w: channel %s/%s: %w", ErrCorrupt, account, name, err)
	}
	if rec.V != recordVersion {
		return store.Channel{}, fmt.Errorf("%w: channel %s/%s has record version %d, this build knows %d",
			ErrCorrupt, account, name, rec.V, recordVersion)
	}
	return store.Channel{
		Account:    account,
		Name:       name,
		ARN:        rec.ARN,
		Type:       rec.Type,
		Status:     rec.Status,
		CreatedAt:  rec.CreatedAt,
		MessageTTL: rec.MessageTTL,
		Version:    rec.Version,
		Tags:       rec.Tags,
	}, nil
}
