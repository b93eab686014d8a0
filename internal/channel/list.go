package channel

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// ListInput selects a page of the caller's channels.
type ListInput struct {
	MaxResults *int
	NextToken  *string
	// Operator and Prefix come from ChannelNameCondition.
	Operator *string
	Prefix   *string
}

// Page is one page of channels, ordered by name.
type Page struct {
	Channels  []store.Channel
	NextToken string // empty on the last page
}

// tokenVersion starts every pagination token, so that the format can change
// without old tokens being misread.
const tokenVersion = "sb1"

// List returns a page of the caller's channels in ascending name order. The
// next-page token encodes the filter and the last name returned, so paging
// stays stable while channels are created and deleted, and a token cannot
// be replayed with another filter.
func (s *Service) List(ctx context.Context, account string, in ListInput) (Page, error) {
	limit := kvsapi.DefaultListResults
	if in.MaxResults != nil {
		limit = *in.MaxResults
		if limit < 1 || limit > kvsapi.MaxListResults {
			return Page{}, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MaxResults must be between 1 and %d, got %d", kvsapi.MaxListResults, limit)
		}
	}
	prefix, err := listPrefix(in.Operator, in.Prefix)
	if err != nil {
		return Page{}, err
	}
	after := ""
	if in.NextToken != nil && *in.NextToken != "" {
		if after, err = decodeToken(*in.NextToken, prefix); err != nil {
			return Page{}, err
		}
	}
	// Ask for one more than the page to learn whether another page exists.
	channels, err := s.store.ListChannels(ctx, account, store.ListOptions{Prefix: prefix, After: after, Limit: limit + 1})
	if err != nil {
		return Page{}, fmt.Errorf("list channels: %w", err)
	}
	page := Page{Channels: channels}
	if len(channels) > limit {
		page.Channels = channels[:limit]
		page.NextToken = encodeToken(prefix, page.Channels[limit-1].Name)
	}
	return page, nil
}

func listPrefix(operator, value *string) (string, error) {
	if operator != nil && *operator != kvsapi.ComparisonBeginsWith {
		return "", kvsapi.Errorf(kvsapi.CodeInvalidArgument, "ChannelNameCondition.ComparisonOperator must be BEGINS_WITH, got %q", *operator)
	}
	if value == nil {
		return "", nil
	}
	if err := kvsapi.ValidateChannelName("ChannelNameCondition.ComparisonValue", *value); err != nil {
		return "", err
	}
	return *value, nil
}

func encodeToken(prefix, last string) string {
	// Names never contain '|', so it separates the parts unambiguously.
	return base64.StdEncoding.EncodeToString([]byte(tokenVersion + "|" + prefix + "|" + last))
}

func decodeToken(token, prefix string) (string, error) {
	if err := kvsapi.ValidateNextToken("NextToken", token); err != nil {
		return "", err
	}
	invalid := kvsapi.Errorf(kvsapi.CodeInvalidArgument, "NextToken is not a token this server issued for this request")
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", invalid
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != tokenVersion {
		return "", invalid
	}
	if parts[1] != prefix {
		return "", kvsapi.Errorf(kvsapi.CodeInvalidArgument, "NextToken was issued for another ChannelNameCondition")
	}
	if kvsapi.ValidateChannelName("NextToken", parts[2]) != nil {
		return "", invalid
	}
	return parts[2], nil
}
