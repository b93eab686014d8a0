package bus

import "errors"

// Sentinel errors every backend returns (bare or wrapped), tested with
// errors.Is.
var (
	// ErrClosed means the bus was closed.
	ErrClosed = errors.New("bus: closed")
	// ErrViewerLimit means the channel already has its maximum number of
	// viewers.
	ErrViewerLimit = errors.New("bus: viewer limit reached")
	// ErrHeldDown means the address was taken over too recently to be taken
	// over again (SubscribeOptions.HoldDown).
	ErrHeldDown = errors.New("bus: address was taken over too recently")
	// ErrAddressInUse means the address is held and the caller asked not to
	// take it over.
	ErrAddressInUse = errors.New("bus: address in use")
	// ErrMailboxFull means the channel's mailboxes are at their limit.
	ErrMailboxFull = errors.New("bus: mailbox full")
	// ErrChannelClosed means the channel was closed with CloseChannel.
	ErrChannelClosed = errors.New("bus: channel closed")
)
