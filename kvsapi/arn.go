package kvsapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ChannelARN is a parsed signaling-channel ARN:
// arn:{partition}:kinesisvideo:{region}:{account}:channel/{name}/{creationMillis}.
type ChannelARN struct {
	Partition string
	Region    string
	Account   string
	Name      string
	// CreatedMillis is the channel's creation time in epoch milliseconds.
	CreatedMillis int64
}

// PartitionForRegion returns the ARN partition a region belongs to.
func PartitionForRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}

// NewChannelARN builds the ARN of a channel created at the given time.
func NewChannelARN(region, account, name string, created time.Time) ChannelARN {
	return ChannelARN{
		Partition:     PartitionForRegion(region),
		Region:        region,
		Account:       account,
		Name:          name,
		CreatedMillis: created.UnixMilli(),
	}
}

// String formats the ARN.
func (a ChannelARN) String() string {
	return fmt.Sprintf("arn:%s:kinesisvideo:%s:%s:channel/%s/%d", a.Partition, a.Region, a.Account, a.Name, a.CreatedMillis)
}

// ParseChannelARN parses and validates a channel ARN. member names the request
// member for the error message; errors are InvalidArgumentException.
func ParseChannelARN(member, s string) (ChannelARN, error) {
	if s == "" {
		return ChannelARN{}, Errorf(CodeInvalidArgument, "%s must not be empty", member)
	}
	if len(s) > MaxChannelARNLength {
		return ChannelARN{}, Errorf(CodeInvalidArgument, "%s must be at most %d characters, got %d", member, MaxChannelARNLength, len(s))
	}
	bad := Errorf(CodeInvalidArgument,
		"%s is not a valid signaling channel ARN (expected arn:aws:kinesisvideo:REGION:ACCOUNT:channel/NAME/CREATION_MILLIS)", member)
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesisvideo" {
		return ChannelARN{}, bad
	}
	arn := ChannelARN{Partition: parts[1], Region: parts[3], Account: parts[4]}
	if !isLowerDashed(arn.Partition) || !isLowerDashed(arn.Region) || !isDigits(arn.Account) {
		return ChannelARN{}, bad
	}
	resource := strings.Split(parts[5], "/")
	if len(resource) != 3 || resource[0] != "channel" || !isName(resource[1]) || !isDigits(resource[2]) {
		return ChannelARN{}, bad
	}
	millis, err := strconv.ParseInt(resource[2], 10, 64)
	if err != nil {
		return ChannelARN{}, bad
	}
	arn.Name = resource[1]
	arn.CreatedMillis = millis
	return arn, nil
}

func isLowerDashed(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
