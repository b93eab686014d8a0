// Package bus defines how a signaling message travels from the connection
// that sent it to the connection that must receive it, wherever in a cluster
// both live.
//
// The contract is deliberately narrow so that an in-process backend (package
// memory) and a later Redis backend (streams or pub/sub plus keys) can both
// implement it without the signaling hub changing:
//
//   - Recipients subscribe by Address (account, channel ARN, role, client
//     id). At most one subscriber holds an address at a time; a newer
//     subscriber takes the address over and the previous holder is told
//     (Handler.Displaced), even when it lives on another node.
//   - Publishers send an Envelope to an address. When the address is held
//     the envelope is handed to the holder; otherwise the bus keeps it in the
//     address's mailbox for the TTL given at publish time and hands the
//     mailbox over, in order, to the next subscriber. The mailbox therefore
//     belongs to the bus (in a cluster it lives in the shared store).
//   - A subscriber that took envelopes but could not pass them on (its
//     connection ended first) gives them back with Requeue; they go to the
//     next holder of the address, before anything queued after them, for
//     what is left of their TTL.
//   - A publisher whose envelope is no longer wanted (nobody waits for its
//     answer) takes it back with Withdraw, if it still waits in the
//     mailbox; once handed to a subscriber it is beyond reach.
//   - CloseChannel reaches every subscriber of a channel on every node and
//     drops the channel's mailboxes.
//
// The package owns the contract, its sentinel errors and nothing else. It
// knows nothing about WebSockets, JSON or the KVS wire format: envelopes are
// opaque to it apart from their type and sender, which it needs for the
// mailbox replacement rule.
package bus

import (
	"context"
	"time"
)

// Role is the role of a subscriber within a channel.
type Role uint8

// Roles. The zero value is invalid so that a forgotten role is caught.
const (
	RoleMaster Role = iota + 1
	RoleViewer
)

// String returns "MASTER" or "VIEWER" (the KVS spelling).
func (r Role) String() string {
	switch r {
	case RoleMaster:
		return "MASTER"
	case RoleViewer:
		return "VIEWER"
	}
	return "INVALID"
}

// Address names one recipient: the master of a channel (ClientID empty) or
// one viewer of it.
type Address struct {
	Account  string
	Channel  string // channel ARN
	Role     Role
	ClientID string // viewer client id; empty for the master
}

// MasterOf returns the address of a channel's master.
func MasterOf(account, channel string) Address {
	return Address{Account: account, Channel: channel, Role: RoleMaster}
}

// ViewerOf returns the address of one viewer of a channel.
func ViewerOf(account, channel, clientID string) Address {
	return Address{Account: account, Channel: channel, Role: RoleViewer, ClientID: clientID}
}

// Envelope is one message in transit. The bus treats it as opaque except
// for the replacement rule of mailboxes (see Bus.Publish) and its expiry.
type Envelope struct {
	// Type is the message type (SDP_OFFER, SDP_ANSWER, ICE_CANDIDATE).
	Type string
	// SenderClientID identifies the sender towards the recipient: the
	// viewer's client id on messages to a master, empty on messages from the
	// master.
	SenderClientID string
	// Payload is relayed byte for byte.
	Payload string
	// Expires is when the envelope stops being worth delivering: the bus
	// sets it when it accepts the envelope (publish time plus TTL) and
	// keeps it on every copy it hands out, so that an envelope given back
	// with Bus.Requeue waits only for the rest of its TTL. Publishers leave
	// it zero; the bus overwrites it.
	Expires time.Time
}

// Size is the number of bytes an envelope counts against mailbox limits.
func (e Envelope) Size() int { return len(e.Type) + len(e.SenderClientID) + len(e.Payload) }

// Handler receives what the bus has for one subscription. The bus never
// calls the methods of one subscription concurrently, and calls Deliver in
// publish order for envelopes of one publisher. Implementations must return
// quickly and must not block or call back into the bus: in-process backends
// call them with internal locks held.
type Handler interface {
	// Deliver hands over one envelope. It returns false when the
	// subscriber cannot take it (its connection is being dropped); the bus
	// then keeps the envelope in the mailbox as if the address were
	// unheld. Once Deliver has returned false it must keep doing so. An
	// envelope it took but cannot pass on after all goes back with
	// Bus.Requeue: Publish has reported it Delivered, so it must not be
	// dropped.
	Deliver(Envelope) bool
	// Displaced tells the holder that a newer subscriber took its address.
	// The subscription receives nothing afterwards.
	Displaced()
	// ChannelClosed tells the holder that its channel was closed (deleted).
	// The subscription receives nothing afterwards.
	ChannelClosed()
}

// SubscribeOptions tune one Subscribe call.
type SubscribeOptions struct {
	// MaxViewers refuses a new viewer with ErrViewerLimit when the channel
	// already has that many counted viewers. Taking over an address that is
	// already held never counts as a new viewer. 0 means no limit.
	MaxViewers int
	// HoldDown protects a holder that itself took the address over from a
	// live predecessor: within HoldDown after that takeover, a further
	// takeover is refused with ErrHeldDown. This stops two processes using
	// the same identity from evicting each other in a loop. Taking a free
	// address is always allowed. 0 disables the protection.
	HoldDown time.Duration
	// NoTakeover refuses with ErrAddressInUse instead of displacing a live
	// holder.
	NoTakeover bool
	// Uncounted keeps the subscription out of viewer counts (MaxViewers and
	// Presence); used for server-side pseudo viewers such as Alexa offers.
	Uncounted bool
	// Deferred holds the address (with the takeover, the limits and
	// Presence as usual) but leaves its mailbox in the bus: Subscribe
	// returns no backlog, and envelopes for the address are queued as if
	// it were unheld until Subscription.Activate. A subscriber whose
	// setup can still fail after Subscribe (a WebSocket upgrade) uses it,
	// so that failing loses no mail: the envelopes simply stay queued.
	// Until Activate the address is treated as unheld for mail in every
	// respect: queued envelopes count against the channel's mailbox
	// limits (a publisher can get ErrMailboxFull), a newer offer from the
	// same sender replaces a queued one as the mailbox rules say, and an
	// envelope published with TTL 0 is dropped. Presence already counts
	// the address as held. The deferral lasts only as long as the
	// subscriber's setup (microseconds to one round trip).
	Deferred bool
}

// PublishOptions tune one Publish call.
type PublishOptions struct {
	// TTL is how long the envelope may wait in the mailbox when the
	// recipient is absent. 0 means it is never queued: Publish reports
	// Dropped instead.
	TTL time.Duration
	// MaxMailboxMessages and MaxMailboxBytes bound the mailboxes of the
	// recipient's channel (all addresses together); a publish that would
	// exceed either fails with ErrMailboxFull. 0 means no limit.
	MaxMailboxMessages int
	MaxMailboxBytes    int64
}

// Outcome says what Publish did with an envelope.
type Outcome uint8

// Outcomes of Publish.
const (
	// Delivered: handed to the current holder of the address.
	Delivered Outcome = iota + 1
	// Queued: kept in the mailbox until a subscriber appears or the TTL
	// passes.
	Queued
	// Dropped: the recipient is absent and the TTL was 0.
	Dropped
)

// String names the outcome for logs and metric labels.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Queued:
		return "queued"
	case Dropped:
		return "dropped"
	}
	return "invalid"
}

// Presence is who is subscribed to a channel.
type Presence struct {
	Master  bool
	Viewers int // counted viewers only
}

// Stats are counters of one bus instance (the node's view in a cluster).
type Stats struct {
	MailboxMessages int64  // envelopes waiting in mailboxes now
	MailboxBytes    int64  // their total Size
	Expired         uint64 // envelopes dropped because their TTL passed, since start
	Replaced        uint64 // queued offers/answers replaced by newer ones, since start
}

// Subscription is a registered recipient.
type Subscription interface {
	// Activate ends the deferral of a Deferred subscription: it returns
	// the envelopes waiting in the mailbox, oldest first (they leave it),
	// and from then on new envelopes go to Handler.Deliver, all after the
	// returned ones. It returns nothing when the subscription was not
	// deferred, was already activated, or no longer holds its address
	// (its handler was told why, or it unsubscribed). Errors: ErrClosed,
	// or a backend failure.
	Activate(ctx context.Context) ([]Envelope, error)
	// Unsubscribe releases the address if this subscription still holds
	// it; mail for the address is queued again from then on. It is
	// idempotent and safe after Displaced or ChannelClosed.
	Unsubscribe()
}

// Bus carries envelopes between subscribers. All methods are safe for
// concurrent use. After Close every method fails with ErrClosed (Unsubscribe
// of existing subscriptions is a no-op).
type Bus interface {
	// Subscribe registers h as the holder of addr and returns the envelopes
	// waiting in addr's mailbox, oldest first; they leave the mailbox. From
	// the moment Subscribe returns, new envelopes for addr go to h.Deliver,
	// all after the returned backlog. A live holder of addr is displaced
	// (its Handler.Displaced is called) unless opts forbid it. Errors:
	// ErrViewerLimit, ErrHeldDown, ErrAddressInUse, ErrChannelClosed,
	// ErrClosed, or a backend failure.
	Subscribe(ctx context.Context, addr Address, h Handler, opts SubscribeOptions) (Subscription, []Envelope, error)

	// Publish sends env to the address. The holder receives it through
	// Deliver; with no holder it is queued in the mailbox. In a mailbox, an
	// SDP_OFFER or SDP_ANSWER replaces a queued envelope of the same type
	// from the same sender (SenderClientID) to the same address: the older
	// one is removed and the new one appended, so the mailbox stays in
	// acceptance order. Other types are never replaced. Errors:
	// ErrMailboxFull, ErrChannelClosed, ErrClosed, or a backend failure.
	Publish(ctx context.Context, to Address, env Envelope, opts PublishOptions) (Outcome, error)

	// Requeue gives back envelopes that a subscriber of addr took (through
	// Deliver or a backlog) but could not pass on, oldest first. They are
	// older than anything queued for addr since, so they go first: to the
	// holder of addr through Deliver when it has one (after a takeover,
	// the newer connection), otherwise in front of the mailbox, where what
	// the holder refuses goes too. In the mailbox each keeps its Expires,
	// so it waits only for the rest of its TTL; the mailbox limits do not
	// apply (the envelopes were accepted once), and an SDP_OFFER or
	// SDP_ANSWER followed by a newer one of the same type from the same
	// sender, given back with it or queued already, is dropped as the
	// replacement rule would have. Expired envelopes are dropped and
	// counted in Stats.Expired. Errors: ErrChannelClosed (the channel's
	// mail is gone, these envelopes with it), ErrClosed, or a backend
	// failure.
	Requeue(ctx context.Context, addr Address, envs []Envelope) error

	// Withdraw removes env from addr's mailbox before anyone receives it:
	// the oldest queued envelope with env's Type, SenderClientID and
	// Payload (Expires is not compared). It reports whether there was one.
	// An envelope already handed to a subscriber (through Deliver or a
	// backlog, or a deferred one's Activate), replaced, expired or never
	// queued is not found, and one handed out and given back later with
	// Requeue is queued again; finding it and removing it are one atomic
	// step against Subscribe, Activate and Publish, so the envelope is
	// either withdrawn or received, never both. Errors: ErrChannelClosed
	// (the channel's mail is gone), ErrClosed, or a backend failure.
	Withdraw(ctx context.Context, addr Address, env Envelope) (bool, error)

	// CloseChannel calls ChannelClosed on every subscriber of the channel,
	// on every node, drops its mailboxes and, for a while, refuses new
	// subscriptions and publishes to it with ErrChannelClosed (channel ARNs
	// are never reused, so this only closes races with late connects).
	CloseChannel(ctx context.Context, account, channel string) error

	// Presence reports who is subscribed to a channel.
	Presence(ctx context.Context, account, channel string) (Presence, error)

	// Expire drops mailbox envelopes whose TTL has passed. Callers run it
	// periodically; backends whose storage expires entries by itself may do
	// nothing. Expired envelopes are never delivered, whether or not Expire
	// ran.
	Expire(ctx context.Context) error

	// Stats returns this instance's counters.
	Stats() Stats

	// Close releases the bus. It is idempotent.
	Close() error
}
