package controlplane

import (
	"context"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

func (a *API) tagResource(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.TagResourceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.ResourceARN == nil:
		return nil, required("ResourceARN")
	case in.Tags == nil:
		return nil, required("Tags")
	}
	if err := a.quotas.admitChannel(opTagResource, p.Account, nil, in.ResourceARN); err != nil {
		return nil, err
	}
	if err := a.channels.Tag(ctx, p.Account, *in.ResourceARN, in.Tags); err != nil {
		return nil, err
	}
	return kvsapi.Empty{}, nil
}

func (a *API) untagResource(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.UntagResourceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.ResourceARN == nil:
		return nil, required("ResourceARN")
	case in.TagKeyList == nil:
		return nil, required("TagKeyList")
	}
	if err := a.quotas.admitChannel(opUntagResource, p.Account, nil, in.ResourceARN); err != nil {
		return nil, err
	}
	if err := a.channels.Untag(ctx, p.Account, *in.ResourceARN, in.TagKeyList); err != nil {
		return nil, err
	}
	return kvsapi.Empty{}, nil
}

func (a *API) listTagsForResource(ctx context.Context, p auth.Principal, body []byte) (any, error) {
	var in kvsapi.ListTagsForResourceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ResourceARN == nil {
		return nil, required("ResourceARN")
	}
	if in.NextToken != nil && *in.NextToken != "" {
		// At most 50 tags always fit one page, so this server never issues
		// a tag token and none can be valid.
		if err := kvsapi.ValidateNextToken("NextToken", *in.NextToken); err != nil {
			return nil, err
		}
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "NextToken is not a token this server issued: tag lists always fit one page")
	}
	if err := a.quotas.admitChannel(opListTagsForResource, p.Account, nil, in.ResourceARN); err != nil {
		return nil, err
	}
	tags, err := a.channels.Tags(ctx, p.Account, *in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return kvsapi.ListTagsForResourceOutput{Tags: tags}, nil
}
