package kvsapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// EpochSeconds is a timestamp that travels as a JSON number of seconds since
// the Unix epoch with millisecond precision, e.g. 1700000000.123. The AWS SDKs
// for Go v2 and JavaScript v3 refuse timestamps sent as strings (spec 1.2).
type EpochSeconds time.Time

// MarshalJSON writes the time as a plain decimal number with up to three
// fractional digits.
func (t EpochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads a JSON number of epoch seconds, fractional or in
// exponent form (the real service prints 1.712136149494E9).
func (t *EpochSeconds) UnmarshalJSON(data []byte) error {
	var f float64
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("timestamp must be a JSON number of epoch seconds: %w", err)
	}
	sec, frac := math.Modf(f)
	*t = EpochSeconds(time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC())
	return nil
}

// Time returns the value as a time.Time.
func (t EpochSeconds) Time() time.Time { return time.Time(t) }
