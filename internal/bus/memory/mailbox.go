package memory

import (
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// Message types the mailbox replacement rule applies to (spec 6.7). They are
// spelled here rather than imported so that the bus stays independent of
// the wire package.
const (
	typeOffer  = "SDP_OFFER"
	typeAnswer = "SDP_ANSWER"
)

// mailbox is the queue of one absent recipient, oldest first.
type mailbox struct {
	items []queued
}

type queued struct {
	env     bus.Envelope
	expires time.Time
}

// enqueue appends env to the recipient's mailbox, applying the replacement
// rule and the channel limits. ch is locked.
func (b *Bus) enqueue(ch *channel, skey slotKey, env bus.Envelope, opts bus.PublishOptions, now time.Time) error {
	b.purgeExpired(ch, now)
	box := ch.mail[skey]
	replace := -1
	if box != nil && (env.Type == typeOffer || env.Type == typeAnswer) {
		for i, q := range box.items {
			if q.env.Type == env.Type && q.env.SenderClientID == env.SenderClientID {
				replace = i
				break
			}
		}
	}
	count, size := ch.count+1, ch.bytes+int64(env.Size())
	if replace >= 0 {
		count--
		size -= int64(box.items[replace].env.Size())
	}
	if opts.MaxMailboxMessages > 0 && count > opts.MaxMailboxMessages ||
		opts.MaxMailboxBytes > 0 && size > opts.MaxMailboxBytes {
		return bus.ErrMailboxFull
	}
	if box == nil {
		box = &mailbox{}
		ch.mail[skey] = box
	}
	if replace >= 0 {
		b.removeAt(ch, box, replace)
		b.replaced.Add(1)
	}
	expires := now.Add(opts.TTL)
	box.items = append(box.items, queued{env: env, expires: expires})
	ch.count++
	ch.bytes += int64(env.Size())
	b.mailMessages.Add(1)
	b.mailBytes.Add(int64(env.Size()))
	if ch.nextExpiry.IsZero() || expires.Before(ch.nextExpiry) {
		ch.nextExpiry = expires
	}
	return nil
}

func (b *Bus) removeAt(ch *channel, box *mailbox, i int) {
	size := int64(box.items[i].env.Size())
	copy(box.items[i:], box.items[i+1:])
	box.items[len(box.items)-1] = queued{}
	box.items = box.items[:len(box.items)-1]
	ch.count--
	ch.bytes -= size
	b.mailMessages.Add(-1)
	b.mailBytes.Add(-size)
}

// takeMailbox empties the recipient's mailbox and returns what has not
// expired, oldest first. ch is locked.
func (b *Bus) takeMailbox(ch *channel, skey slotKey, now time.Time) []bus.Envelope {
	box := ch.mail[skey]
	if box == nil {
		return nil
	}
	delete(ch.mail, skey)
	out := make([]bus.Envelope, 0, len(box.items))
	var expired uint64
	var size int64
	for _, q := range box.items {
		size += int64(q.env.Size())
		if now.Before(q.expires) {
			out = append(out, q.env)
		} else {
			expired++
		}
	}
	ch.count -= len(box.items)
	ch.bytes -= size
	b.mailMessages.Add(-int64(len(box.items)))
	b.mailBytes.Add(-size)
	b.expired.Add(expired)
	if ch.count == 0 {
		ch.nextExpiry = time.Time{}
	}
	return out
}

// purgeExpired drops every expired envelope of the channel when one may be
// due. ch is locked.
func (b *Bus) purgeExpired(ch *channel, now time.Time) {
	if ch.count == 0 || now.Before(ch.nextExpiry) {
		return
	}
	var next time.Time
	for skey, box := range ch.mail {
		kept := box.items[:0]
		for _, q := range box.items {
			if now.Before(q.expires) {
				kept = append(kept, q)
				if next.IsZero() || q.expires.Before(next) {
					next = q.expires
				}
				continue
			}
			size := int64(q.env.Size())
			ch.count--
			ch.bytes -= size
			b.mailMessages.Add(-1)
			b.mailBytes.Add(-size)
			b.expired.Add(1)
		}
		clear(box.items[len(kept):])
		box.items = kept
		if len(kept) == 0 {
			delete(ch.mail, skey)
		}
	}
	ch.nextExpiry = next
}

// dropAllMail discards the channel's mailboxes (channel closed, bus closed).
// ch is locked.
func (b *Bus) dropAllMail(ch *channel) {
	b.mailMessages.Add(-int64(ch.count))
	b.mailBytes.Add(-ch.bytes)
	clear(ch.mail)
	ch.count, ch.bytes = 0, 0
	ch.nextExpiry = time.Time{}
}
