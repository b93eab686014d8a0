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

// mailbox is the queue of one absent recipient, oldest first. Each
// envelope carries its expiry (bus.Envelope.Expires).
type mailbox struct {
	items []bus.Envelope
}

// replaceable reports whether the replacement rule applies to env.
func replaceable(env bus.Envelope) bool { return env.Type == typeOffer || env.Type == typeAnswer }

// replaceKey names what a replaceable envelope replaces: the queued one of
// the same type from the same sender.
type replaceKey struct{ typ, sender string }

func replaceKeyOf(env bus.Envelope) replaceKey { return replaceKey{env.Type, env.SenderClientID} }

// enqueue appends env, stamped with its expiry, to the recipient's mailbox,
// applying the replacement rule and the channel limits. ch is locked.
func (b *Bus) enqueue(ch *channel, skey slotKey, env bus.Envelope, opts bus.PublishOptions, now time.Time) error {
	b.purgeExpired(ch, now)
	box := ch.mail[skey]
	replace := -1
	if box != nil && replaceable(env) {
		for i, q := range box.items {
			if replaceKeyOf(q) == replaceKeyOf(env) {
				replace = i
				break
			}
		}
	}
	count, size := ch.count+1, ch.bytes+int64(env.Size())
	if replace >= 0 {
		count--
		size -= int64(box.items[replace].Size())
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
	box.items = append(box.items, env)
	b.counted(ch, env)
	return nil
}

// counted adds a newly queued envelope to the channel's and the bus's
// counters. ch is locked.
func (b *Bus) counted(ch *channel, env bus.Envelope) {
	ch.count++
	ch.bytes += int64(env.Size())
	b.mailMessages.Add(1)
	b.mailBytes.Add(int64(env.Size()))
	if ch.nextExpiry.IsZero() || env.Expires.Before(ch.nextExpiry) {
		ch.nextExpiry = env.Expires
	}
}

// requeue puts envelopes given back with Requeue, none of them expired, in
// front of the recipient's mailbox, oldest first. An offer or answer that a
// newer one of the same type and sender follows (given back with it or
// queued already) is dropped, as the replacement rule would have done had
// they been queued from the start. No limit applies: they were accepted
// once. ch is locked.
func (b *Bus) requeue(ch *channel, skey slotKey, envs []bus.Envelope) {
	if len(envs) == 0 {
		return
	}
	box := ch.mail[skey]
	if box == nil {
		box = &mailbox{}
		ch.mail[skey] = box
	}
	drop := supersededByLater(envs, box.items)
	items := make([]bus.Envelope, 0, len(envs)+len(box.items))
	for i, env := range envs {
		if drop[i] {
			b.replaced.Add(1)
			continue
		}
		items = append(items, env)
		b.counted(ch, env)
	}
	box.items = append(items, box.items...)
	if len(box.items) == 0 {
		delete(ch.mail, skey)
	}
}

// supersededByLater marks the offers and answers of envs that a later
// envelope of the same type and sender follows, in envs or in queued
// (which comes after all of envs).
func supersededByLater(envs, queued []bus.Envelope) []bool {
	later := make(map[replaceKey]bool)
	for _, q := range queued {
		if replaceable(q) {
			later[replaceKeyOf(q)] = true
		}
	}
	drop := make([]bool, len(envs))
	for i := len(envs) - 1; i >= 0; i-- {
		if !replaceable(envs[i]) {
			continue
		}
		k := replaceKeyOf(envs[i])
		drop[i] = later[k]
		later[k] = true
	}
	return drop
}

// withdraw removes the oldest queued envelope that says what env says
// from the recipient's mailbox and reports whether there was one. ch is
// locked.
func (b *Bus) withdraw(ch *channel, skey slotKey, env bus.Envelope) bool {
	box := ch.mail[skey]
	if box == nil {
		return false
	}
	for i, q := range box.items {
		if q.Type == env.Type && q.SenderClientID == env.SenderClientID && q.Payload == env.Payload {
			b.removeAt(ch, box, i)
			if len(box.items) == 0 {
				delete(ch.mail, skey)
			}
			return true
		}
	}
	return false
}

func (b *Bus) removeAt(ch *channel, box *mailbox, i int) {
	size := int64(box.items[i].Size())
	copy(box.items[i:], box.items[i+1:])
	box.items[len(box.items)-1] = bus.Envelope{}
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
		size += int64(q.Size())
		if now.Before(q.Expires) {
			out = append(out, q)
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
			if now.Before(q.Expires) {
				kept = append(kept, q)
				if next.IsZero() || q.Expires.Before(next) {
					next = q.Expires
				}
				continue
			}
			size := int64(q.Size())
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
