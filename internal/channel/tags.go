package channel

import (
	"context"
	"fmt"

	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Tag adds or overwrites tags on the caller's channel. The resulting set may
// hold at most 50 tags.
func (s *Service) Tag(ctx context.Context, account, arn string, tags []kvsapi.Tag) error {
	add, err := kvsapi.ValidateTags("Tags", tags, true)
	if err != nil {
		return err
	}
	_, err = s.mutate(ctx, account, "ResourceARN", arn, func(ch *store.Channel) error {
		if err := taggable(ch); err != nil {
			return err
		}
		merged := make(map[string]string, len(ch.Tags)+len(add))
		for k, v := range ch.Tags {
			merged[k] = v
		}
		for k, v := range add {
			merged[k] = v
		}
		if len(merged) > kvsapi.MaxTagsPerResource {
			return kvsapi.Errorf(kvsapi.CodeTagsPerResourceExceededLimit,
				"The channel would have %d tags; a resource may have at most %d", len(merged), kvsapi.MaxTagsPerResource)
		}
		ch.Tags = merged
		return nil
	})
	return err
}

// Untag removes tags by key from the caller's channel; absent keys are
// ignored.
func (s *Service) Untag(ctx context.Context, account, arn string, keys []*string) error {
	if len(keys) == 0 {
		return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "TagKeyList must contain at least 1 key")
	}
	if len(keys) > kvsapi.MaxTagsPerResource {
		return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "TagKeyList may contain at most %d keys, got %d", kvsapi.MaxTagsPerResource, len(keys))
	}
	for i, key := range keys {
		member := fmt.Sprintf("TagKeyList[%d]", i)
		if key == nil {
			return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s must not be null", member)
		}
		if err := kvsapi.ValidateTagKey(member, *key); err != nil {
			return err
		}
	}
	_, err := s.mutate(ctx, account, "ResourceARN", arn, func(ch *store.Channel) error {
		if err := taggable(ch); err != nil {
			return err
		}
		for _, key := range keys {
			delete(ch.Tags, *key)
		}
		return nil
	})
	return err
}

// Tags returns the tags of the caller's channel.
func (s *Service) Tags(ctx context.Context, account, arn string) (map[string]string, error) {
	ch, err := s.ByARN(ctx, account, "ResourceARN", arn)
	if err != nil {
		return nil, err
	}
	if ch.Tags == nil {
		return map[string]string{}, nil
	}
	return ch.Tags, nil
}

func taggable(ch *store.Channel) error {
	if ch.Status == kvsapi.ChannelStatusDeleting {
		return kvsapi.Errorf(kvsapi.CodeResourceNotFound, "%s", kvsapi.ChannelNotFoundMessage)
	}
	return nil
}
