package bolt

import "errors"

// Errors specific to this backend. Store methods otherwise return the
// sentinels of package store.
var (
	// ErrLocked means another process, or another Store in this process,
	// holds the database file open; bbolt allows one writer per file.
	ErrLocked = errors.New("bolt: database file is in use by another process or store")
	// ErrSchema means the file was written with a layout this version does
	// not understand (a newer schema, or not a Switchboard store at all).
	ErrSchema = errors.New("bolt: unsupported database schema")
	// ErrCorrupt means a stored record could not be decoded.
	ErrCorrupt = errors.New("bolt: corrupt record")
	// ErrInvalidKey means an account, channel name or secret name was empty.
	ErrInvalidKey = errors.New("bolt: empty key")
)

// ErrKeyChanged means an UpdateChannel mutate function changed the
// channel's Account or Name, which the store contract forbids; nothing was
// written.
var ErrKeyChanged = errors.New("bolt: mutate changed the channel's account or name")
