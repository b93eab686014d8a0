package channel

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Service carries out channel operations for authenticated callers.
type Service struct {
	store  store.Store
	region string
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	// onDeleted is called after a channel is deleted, so that live
	// connections of the channel can be told to go away.
	onDeleted func(ctx context.Context, ch store.Channel)
	// onUpdated is called after a channel's configuration changed, so that
	// live connections pick up the new message TTL.
	onUpdated func(ctx context.Context, ch store.Channel)
	// updateLocks order the updates of one channel with their onUpdated
	// calls (see lockUpdates).
	updateLocks [updateLockStripes]sync.Mutex
	lockSeed    maphash.Seed
}

// updateLockStripes is how many locks the channels' updates share; two
// channels whose ARNs hash to the same stripe wait for each other, which
// costs little at 64.
const updateLockStripes = 64

// Options are the dependencies of a Service.
type Options struct {
	Store store.Store
	// Region is the one region this server serves; ARNs carry it.
	Region string
	Config Config
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnDeleted, when set, runs after every successful delete.
	OnDeleted func(ctx context.Context, ch store.Channel)
	// OnUpdated, when set, runs after every successful UpdateSignalingChannel.
	OnUpdated func(ctx context.Context, ch store.Channel)
}

// NewService builds a Service. It starts nothing.
func NewService(opts Options) *Service {
	s := &Service{store: opts.Store, region: opts.Region, cfg: opts.Config, now: opts.Now, log: opts.Logger,
		onDeleted: opts.OnDeleted, onUpdated: opts.OnUpdated, lockSeed: maphash.MakeSeed()}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Region returns the region the service builds ARNs for.
func (s *Service) Region() string { return s.region }

// CreateInput is a validated-on-entry request to create a channel.
type CreateInput struct {
	Name       string
	Type       string // "" means SINGLE_MASTER
	MessageTTL *int   // nil means the default
	Tags       []kvsapi.Tag
}

// Create makes a new ACTIVE channel in the caller's account.
func (s *Service) Create(ctx context.Context, account string, in CreateInput) (store.Channel, error) {
	if err := kvsapi.ValidateChannelName("ChannelName", in.Name); err != nil {
		return store.Channel{}, err
	}
	switch in.Type {
	case "", kvsapi.ChannelTypeSingleMaster:
	case kvsapi.ChannelTypeFullMesh:
		return store.Channel{}, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "ChannelType FULL_MESH is not supported; use SINGLE_MASTER")
	default:
		return store.Channel{}, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "ChannelType must be SINGLE_MASTER, got %q", in.Type)
	}
	ttl := kvsapi.DefaultMessageTTL
	if in.MessageTTL != nil {
		ttl = *in.MessageTTL
		if err := kvsapi.ValidateMessageTTL("SingleMasterConfiguration.MessageTtlSeconds", ttl); err != nil {
			return store.Channel{}, err
		}
	}
	tags, err := kvsapi.ValidateTags("Tags", in.Tags, false)
	if err != nil {
		return store.Channel{}, err
	}
	ch := store.Channel{
		Account:    account,
		Name:       in.Name,
		Type:       kvsapi.ChannelTypeSingleMaster,
		Status:     kvsapi.ChannelStatusActive,
		MessageTTL: ttl,
		Tags:       tags,
	}
	ch, err = s.insert(ctx, ch)
	switch {
	case errors.Is(err, store.ErrExists):
		return store.Channel{}, kvsapi.Errorf(kvsapi.CodeResourceInUse, "A signaling channel named %q already exists in this account", in.Name)
	case errors.Is(err, store.ErrLimitExceeded):
		return store.Channel{}, kvsapi.Errorf(kvsapi.CodeAccountChannelLimitExceeded,
			"The account has reached its limit of %d signaling channels (channels.max_per_account)", s.cfg.MaxPerAccount)
	case errors.Is(err, store.ErrCreatedTooEarly):
		// insert gave up: the name kept being created and deleted by other
		// requests while this one ran. Nothing is wrong with the server or
		// the request, so the caller is told to try again.
		return store.Channel{}, kvsapi.Errorf(kvsapi.CodeResourceInUse,
			"A signaling channel named %q was deleted and created again by other requests while this one ran; retry the request", in.Name)
	case err != nil:
		return store.Channel{}, fmt.Errorf("create channel %q: %w", in.Name, err)
	}
	s.log.InfoContext(ctx, "channel created", "account", account, "channel", in.Name)
	return ch, nil
}

// createAttempts bounds how often insert retries after the store found the
// creation time too early. One retry is enough unless other deletes and
// re-creations of the same name keep overtaking this one; each failure
// means another request created and deleted the name meanwhile, so
// retrying for as long as that goes on could run without end. After the
// last attempt Create answers ResourceInUseException, which asks the
// caller to retry.
const createAttempts = 4

// insert stores ch with a creation time, version and ARN of its own.
//
// The ARN ends in the creation time in milliseconds, so a channel deleted
// and created again under the same name within one millisecond, or after
// the clock stepped back, would get the deleted channel's ARN, and clients
// holding that ARN would reach the new channel (spec 3.5 wants a new one).
// The store therefore remembers, in the delete's own transaction, when the
// deleted channel was created, and refuses an earlier or equal creation
// time (store.CreatedTooEarlyError). We then move the time to 1 ms after
// the deleted channel's and try again. A process-wide monotonic clock would
// not survive restarts or serve several servers sharing one store; the
// record in the store does both, costs nothing on the common path, and only
// skews CreationTime by a few milliseconds when it applies.
func (s *Service) insert(ctx context.Context, ch store.Channel) (store.Channel, error) {
	created := s.now().UTC().Truncate(time.Millisecond)
	for attempt := 1; ; attempt++ {
		ch.CreatedAt = created
		ch.ARN = kvsapi.NewChannelARN(s.region, ch.Account, ch.Name, created).String()
		ch.Version = NewVersion()
		err := s.store.CreateChannel(ctx, ch, s.cfg.MaxPerAccount)
		var early *store.CreatedTooEarlyError
		if !errors.As(err, &early) || attempt == createAttempts {
			return ch, err
		}
		created = s.now().UTC().Truncate(time.Millisecond)
		if floor := early.Deleted.UTC().Truncate(time.Millisecond).Add(time.Millisecond); created.Before(floor) {
			created = floor
		}
	}
}

// Selector names a channel by name, ARN, or both.
type Selector struct {
	Name *string
	ARN  *string
}

// Resolve finds the caller's channel named by sel. At least one of name and
// ARN is required; when both are given they must denote the same channel.
func (s *Service) Resolve(ctx context.Context, account string, sel Selector) (store.Channel, error) {
	switch {
	case sel.Name == nil && sel.ARN == nil:
		return store.Channel{}, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "Either ChannelName or ChannelARN is required")
	case sel.ARN != nil:
		ch, err := s.ByARN(ctx, account, "ChannelARN", *sel.ARN)
		if err != nil {
			return store.Channel{}, err
		}
		if sel.Name != nil && *sel.Name != ch.Name {
			return store.Channel{}, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "ChannelName and ChannelARN denote different channels")
		}
		return ch, nil
	default:
		if err := kvsapi.ValidateChannelName("ChannelName", *sel.Name); err != nil {
			return store.Channel{}, err
		}
		return s.get(ctx, account, *sel.Name)
	}
}

// ByARN finds the caller's channel with the given ARN. An ARN of another
// account or region, or of an earlier channel that had the same name, is not
// found: accounts never learn about each other's channels.
func (s *Service) ByARN(ctx context.Context, account, member, arn string) (store.Channel, error) {
	parsed, err := kvsapi.ParseChannelARN(member, arn)
	if err != nil {
		return store.Channel{}, err
	}
	if parsed.Account != account || parsed.Region != s.region {
		return store.Channel{}, notFound()
	}
	ch, err := s.get(ctx, account, parsed.Name)
	if err != nil {
		return store.Channel{}, err
	}
	if ch.ARN != arn {
		return store.Channel{}, notFound()
	}
	return ch, nil
}

func (s *Service) get(ctx context.Context, account, name string) (store.Channel, error) {
	ch, err := s.store.GetChannel(ctx, account, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Channel{}, notFound()
	}
	if err != nil {
		return store.Channel{}, fmt.Errorf("get channel %q: %w", name, err)
	}
	return ch, nil
}

func notFound() error {
	return kvsapi.Errorf(kvsapi.CodeResourceNotFound, "%s", kvsapi.ChannelNotFoundMessage)
}

// Update changes the message TTL of a channel whose version is
// currentVersion, and gives it a new version.
func (s *Service) Update(ctx context.Context, account, arn, currentVersion string, messageTTL *int) (store.Channel, error) {
	if err := kvsapi.ValidateVersion("CurrentVersion", currentVersion); err != nil {
		return store.Channel{}, err
	}
	if messageTTL != nil {
		if err := kvsapi.ValidateMessageTTL("SingleMasterConfiguration.MessageTtlSeconds", *messageTTL); err != nil {
			return store.Channel{}, err
		}
	}
	unlock := s.lockUpdates(arn)
	defer unlock()
	updated, err := s.mutate(ctx, account, "ChannelARN", arn, func(ch *store.Channel) error {
		if ch.Version != currentVersion {
			return versionMismatch(ch.Version)
		}
		if ch.Status != kvsapi.ChannelStatusActive {
			return kvsapi.Errorf(kvsapi.CodeResourceInUse, "The channel is %s; only ACTIVE channels can be updated", ch.Status)
		}
		if messageTTL != nil {
			ch.MessageTTL = *messageTTL
		}
		ch.Version = NewVersion()
		return nil
	})
	if err == nil && s.onUpdated != nil {
		s.onUpdated(ctx, updated)
	}
	return updated, err
}

// lockUpdates holds the lock of arn's stripe until the returned function
// runs. Update holds it from its write to the end of its onUpdated call, so
// that two updates of one channel reach onUpdated in the order they were
// stored: without it, the first update's call could run last and leave
// live connections with the older message TTL.
func (s *Service) lockUpdates(arn string) (unlock func()) {
	mu := &s.updateLocks[maphash.String(s.lockSeed, arn)%updateLockStripes]
	mu.Lock()
	return mu.Unlock
}

func versionMismatch(_ string) error {
	return kvsapi.Errorf(kvsapi.CodeVersionMismatch,
		"CurrentVersion does not match the channel's version; describe the channel to get the latest version")
}

// mutate applies change to the caller's channel with the given ARN,
// atomically.
func (s *Service) mutate(ctx context.Context, account, member, arn string, change func(*store.Channel) error) (store.Channel, error) {
	ch, err := s.ByARN(ctx, account, member, arn)
	if err != nil {
		return store.Channel{}, err
	}
	updated, err := s.store.UpdateChannel(ctx, account, ch.Name, func(stored *store.Channel) error {
		if stored.ARN != arn {
			return notFound() // deleted and re-created in between
		}
		return change(stored)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Channel{}, notFound()
	}
	var apiErr *kvsapi.Error
	if err != nil && !errors.As(err, &apiErr) {
		return store.Channel{}, fmt.Errorf("update channel %q: %w", ch.Name, err)
	}
	return updated, err
}

// Delete removes the caller's channel with the given ARN. When
// currentVersion is given it must match.
func (s *Service) Delete(ctx context.Context, account, arn string, currentVersion *string) (store.Channel, error) {
	if currentVersion != nil {
		if err := kvsapi.ValidateVersion("CurrentVersion", *currentVersion); err != nil {
			return store.Channel{}, err
		}
	}
	ch, err := s.ByARN(ctx, account, "ChannelARN", arn)
	if err != nil {
		return store.Channel{}, err
	}
	removed, err := s.store.DeleteChannel(ctx, account, ch.Name, func(stored store.Channel) error {
		switch {
		case stored.ARN != arn:
			return notFound()
		case currentVersion != nil && stored.Version != *currentVersion:
			return versionMismatch(stored.Version)
		case stored.Status == kvsapi.ChannelStatusDeleting:
			return kvsapi.Errorf(kvsapi.CodeResourceInUse, "The channel is already being deleted")
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Channel{}, notFound()
	}
	if err != nil {
		var apiErr *kvsapi.Error
		if errors.As(err, &apiErr) {
			return store.Channel{}, err
		}
		return store.Channel{}, fmt.Errorf("delete channel %q: %w", ch.Name, err)
	}
	s.log.InfoContext(ctx, "channel deleted", "account", account, "channel", removed.Name)
	if s.onDeleted != nil {
		s.onDeleted(ctx, removed)
	}
	return removed, nil
}

// NewVersion mints a channel version token: 20 random alphanumerics, like
// the ones the real service hands out.
func NewVersion() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var raw [20]byte
	_, _ = rand.Read(raw[:]) // never fails on supported platforms
	out := make([]byte, len(raw))
	for i, b := range raw {
		out[i] = alphabet[int(b)%len(alphabet)] // 256 % 62 bias is irrelevant for a version tag
	}
	return string(out)
}
