// Package memory is the in-process implementation of the bus contract: every
// subscriber and every mailbox lives in this process, so it serves a single
// node. It passes the conformance suite in bus/bustest.
//
// Layout: one lock per channel guards that channel's holders and mailboxes;
// a read-mostly map lock is held only to find or create a channel, never
// while a handler runs. Handlers are called with the channel lock held,
// which is what keeps deliveries, takeovers and channel closing in one order;
// the contract forbids them to block. The package does no I/O and starts no
// goroutines.
package memory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// DefaultClosedChannelRetention is how long a closed channel keeps refusing
// subscriptions and publishes when Options leave it unset.
const DefaultClosedChannelRetention = 10 * time.Minute

// Options configure a Bus. The zero value is usable.
type Options struct {
	// Now is the clock used for mailbox expiry and hold-down; time.Now when
	// nil.
	Now func() time.Time
	// ClosedChannelRetention is how long CloseChannel keeps refusing the
	// channel; DefaultClosedChannelRetention when 0.
	ClosedChannelRetention time.Duration
}

// Bus is the in-process bus.
type Bus struct {
	now       func() time.Time
	retention time.Duration

	mu         sync.RWMutex
	closed     bool
	channels   map[channelKey]*channel
	tombstones map[channelKey]time.Time // closed channels and when they may reopen

	mailMessages atomic.Int64
	mailBytes    atomic.Int64
	expired      atomic.Uint64
	replaced     atomic.Uint64
}

var _ bus.Bus = (*Bus)(nil)

type channelKey struct{ account, arn string }

type slotKey struct {
	role     bus.Role
	clientID string
}

// channel is the state of one signaling channel. Every field is guarded by
// mu; dead means the channel left the map and callers must look it up again.
type channel struct {
	key     channelKey
	mu      sync.Mutex
	dead    bool
	holders map[slotKey]*subscription
	counted int // counted viewers among holders
	mail    map[slotKey]*mailbox
	count   int   // envelopes in all mailboxes of the channel
	bytes   int64 // their total size
	// nextExpiry is no later than the earliest expiry of any queued
	// envelope (zero when nothing is queued).
	nextExpiry time.Time
}

// New returns an empty bus.
func New(opts Options) *Bus {
	b := &Bus{
		now:        opts.Now,
		retention:  opts.ClosedChannelRetention,
		channels:   make(map[channelKey]*channel),
		tombstones: make(map[channelKey]time.Time),
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.retention <= 0 {
		b.retention = DefaultClosedChannelRetention
	}
	return b
}

// lockChannel returns the channel locked, creating it when create is set.
// It returns (nil, nil) when the channel does not exist and create is not
// set.
func (b *Bus) lockChannel(key channelKey, create bool) (*channel, error) {
	for {
		b.mu.RLock()
		if b.closed {
			b.mu.RUnlock()
			return nil, bus.ErrClosed
		}
		ch := b.channels[key]
		until, tomb := b.tombstones[key]
		b.mu.RUnlock()
		if tomb && b.now().Before(until) {
			return nil, bus.ErrChannelClosed
		}
		if ch == nil {
			if !create {
				return nil, nil
			}
			var err error
			if ch, err = b.createChannel(key); err != nil {
				return nil, err
			}
		}
		ch.mu.Lock()
		if !ch.dead {
			return ch, nil
		}
		ch.mu.Unlock()
	}
}

func (b *Bus) createChannel(key channelKey) (*channel, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	if until, tomb := b.tombstones[key]; tomb {
		if b.now().Before(until) {
			return nil, bus.ErrChannelClosed
		}
		delete(b.tombstones, key)
	}
	ch := b.channels[key]
	if ch == nil {
		ch = &channel{
			key:     key,
			holders: make(map[slotKey]*subscription),
			mail:    make(map[slotKey]*mailbox),
		}
		b.channels[key] = ch
	}
	return ch, nil
}

// unlockChannel unlocks ch and removes it from the map when it holds nothing.
func (b *Bus) unlockChannel(ch *channel) {
	empty := len(ch.holders) == 0 && ch.count == 0
	ch.mu.Unlock()
	if !empty {
		return
	}
	b.mu.Lock()
	ch.mu.Lock()
	if !ch.dead && len(ch.holders) == 0 && ch.count == 0 && b.channels[ch.key] == ch {
		ch.dead = true
		delete(b.channels, ch.key)
	}
	ch.mu.Unlock()
	b.mu.Unlock()
}

func keyOf(addr bus.Address) (channelKey, slotKey) {
	return channelKey{addr.Account, addr.Channel}, slotKey{addr.Role, addr.ClientID}
}

// subscription is one registered handler. done and deferred are guarded by
// the lock of the channel that held it.
type subscription struct {
	b           *Bus
	ckey        channelKey
	skey        slotKey
	h           bus.Handler
	uncounted   bool
	takenOverAt time.Time // when it displaced a live holder; zero otherwise
	done        bool
	deferred    bool // holds the address, but mail is queued until Activate
}

func (s *subscription) counts() bool { return s.skey.role == bus.RoleViewer && !s.uncounted }

// Subscribe implements bus.Bus.
func (b *Bus) Subscribe(ctx context.Context, addr bus.Address, h bus.Handler, opts bus.SubscribeOptions) (bus.Subscription, []bus.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ckey, skey := keyOf(addr)
	ch, err := b.lockChannel(ckey, true)
	if err != nil {
		return nil, nil, err
	}
	defer b.unlockChannel(ch)

	now := b.now()
	sub := &subscription{b: b, ckey: ckey, skey: skey, h: h, uncounted: opts.Uncounted, deferred: opts.Deferred}
	cur := ch.holders[skey]
	switch {
	case cur != nil && opts.NoTakeover:
		return nil, nil, bus.ErrAddressInUse
	case cur != nil && opts.HoldDown > 0 && !cur.takenOverAt.IsZero() && now.Sub(cur.takenOverAt) < opts.HoldDown:
		return nil, nil, bus.ErrHeldDown
	case sub.counts() && (cur == nil || !cur.counts()) && opts.MaxViewers > 0 && ch.counted >= opts.MaxViewers:
		// A counted viewer adds to the count unless it replaces one that
		// counted already: taking over an uncounted holder (a pending
		// Alexa offer) is a new viewer as much as taking a free address.
		return nil, nil, bus.ErrViewerLimit
	}
	if cur != nil {
		cur.done = true
		if cur.counts() {
			ch.counted--
		}
		sub.takenOverAt = now
		cur.h.Displaced()
	}
	ch.holders[skey] = sub
	if sub.counts() {
		ch.counted++
	}
	if sub.deferred {
		return sub, nil, nil
	}
	return sub, b.takeMailbox(ch, skey, now), nil
}

// Activate implements bus.Subscription.
func (s *subscription) Activate(ctx context.Context) ([]bus.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch, err := s.b.lockChannel(s.ckey, false)
	switch {
	case errors.Is(err, bus.ErrChannelClosed):
		return nil, nil // the handler was told
	case err != nil:
		return nil, err
	case ch == nil:
		return nil, nil // nothing holds the address: s left it
	}
	defer s.b.unlockChannel(ch)
	if s.done || !s.deferred || ch.holders[s.skey] != s {
		return nil, nil
	}
	s.deferred = false
	return s.b.takeMailbox(ch, s.skey, s.b.now()), nil
}

// Unsubscribe implements bus.Subscription.
func (s *subscription) Unsubscribe() {
	ch, err := s.b.lockChannel(s.ckey, false)
	if err != nil || ch == nil {
		return
	}
	if !s.done && ch.holders[s.skey] == s {
		delete(ch.holders, s.skey)
		if s.counts() {
			ch.counted--
		}
	}
	s.done = true
	s.b.unlockChannel(ch)
}

// Publish implements bus.Bus.
func (b *Bus) Publish(ctx context.Context, to bus.Address, env bus.Envelope, opts bus.PublishOptions) (bus.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ckey, skey := keyOf(to)
	ch, err := b.lockChannel(ckey, true)
	if err != nil {
		return 0, err
	}
	defer b.unlockChannel(ch)
	now := b.now()
	env.Expires = now.Add(max(opts.TTL, 0))
	if sub := ch.holders[skey]; sub != nil && !sub.deferred && sub.h.Deliver(env) {
		return bus.Delivered, nil
	}
	if opts.TTL <= 0 {
		return bus.Dropped, nil
	}
	if err := b.enqueue(ch, skey, env, opts, now); err != nil {
		return 0, err
	}
	return bus.Queued, nil
}

// Requeue implements bus.Bus.
func (b *Bus) Requeue(ctx context.Context, addr bus.Address, envs []bus.Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ckey, skey := keyOf(addr)
	ch, err := b.lockChannel(ckey, true)
	if err != nil {
		return err
	}
	defer b.unlockChannel(ch)
	now := b.now()
	b.purgeExpired(ch, now)
	envs = b.unexpired(envs, now)
	if sub := ch.holders[skey]; sub != nil && !sub.deferred {
		envs = deliverUntilRefused(sub.h, envs)
	}
	b.requeue(ch, skey, envs)
	return nil
}

// Withdraw implements bus.Bus.
func (b *Bus) Withdraw(ctx context.Context, addr bus.Address, env bus.Envelope) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ckey, skey := keyOf(addr)
	ch, err := b.lockChannel(ckey, false)
	if err != nil || ch == nil {
		return false, err
	}
	defer b.unlockChannel(ch)
	b.purgeExpired(ch, b.now())
	return b.withdraw(ch, skey, env), nil
}

// unexpired returns a copy of envs without the envelopes whose TTL has
// passed, which it counts as expired.
func (b *Bus) unexpired(envs []bus.Envelope, now time.Time) []bus.Envelope {
	kept := make([]bus.Envelope, 0, len(envs))
	for _, env := range envs {
		if now.Before(env.Expires) {
			kept = append(kept, env)
		} else {
			b.expired.Add(1)
		}
	}
	return kept
}

// deliverUntilRefused hands envs to h in order and returns those it did
// not take: from the first refusal on, so that order is kept when the rest
// goes to the mailbox.
func deliverUntilRefused(h bus.Handler, envs []bus.Envelope) []bus.Envelope {
	for i, env := range envs {
		if !h.Deliver(env) {
			return envs[i:]
		}
	}
	return nil
}

// CloseChannel implements bus.Bus.
func (b *Bus) CloseChannel(ctx context.Context, account, arn string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := channelKey{account, arn}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return bus.ErrClosed
	}
	b.tombstones[key] = b.now().Add(b.retention)
	ch := b.channels[key]
	delete(b.channels, key)
	b.mu.Unlock()
	if ch == nil {
		return nil
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.dead = true
	for k, sub := range ch.holders {
		sub.done = true
		delete(ch.holders, k)
		sub.h.ChannelClosed()
	}
	ch.counted = 0
	b.dropAllMail(ch)
	return nil
}

// Presence implements bus.Bus.
func (b *Bus) Presence(ctx context.Context, account, arn string) (bus.Presence, error) {
	if err := ctx.Err(); err != nil {
		return bus.Presence{}, err
	}
	ch, err := b.lockChannel(channelKey{account, arn}, false)
	if err != nil || ch == nil {
		if errors.Is(err, bus.ErrChannelClosed) {
			err = nil
		}
		return bus.Presence{}, err
	}
	p := bus.Presence{Master: ch.holders[slotKey{role: bus.RoleMaster}] != nil, Viewers: ch.counted}
	ch.mu.Unlock()
	return p, nil
}

// Expire implements bus.Bus.
func (b *Bus) Expire(ctx context.Context) error {
	now := b.now()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return bus.ErrClosed
	}
	for key, until := range b.tombstones {
		if !now.Before(until) {
			delete(b.tombstones, key)
		}
	}
	due := make([]*channel, 0, len(b.channels))
	for _, ch := range b.channels {
		due = append(due, ch)
	}
	b.mu.Unlock()
	for _, ch := range due {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch.mu.Lock()
		if ch.dead {
			ch.mu.Unlock()
			continue
		}
		b.purgeExpired(ch, now)
		b.unlockChannel(ch)
	}
	return nil
}

// Stats implements bus.Bus.
func (b *Bus) Stats() bus.Stats {
	return bus.Stats{
		MailboxMessages: b.mailMessages.Load(),
		MailboxBytes:    b.mailBytes.Load(),
		Expired:         b.expired.Load(),
		Replaced:        b.replaced.Load(),
	}
}

// Close implements bus.Bus. Subscribers are not notified: closing the bus is
// the last step of a shutdown that already closed their connections.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	channels := b.channels
	b.channels = make(map[channelKey]*channel)
	b.mu.Unlock()
	for _, ch := range channels {
		ch.mu.Lock()
		ch.dead = true
		for _, sub := range ch.holders {
			sub.done = true
		}
		clear(ch.holders)
		b.dropAllMail(ch)
		ch.mu.Unlock()
	}
	return nil
}
