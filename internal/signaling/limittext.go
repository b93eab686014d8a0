package signaling

import (
	"fmt"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// The limits of a message apply on both ways in, a WebSocket message and
// SendAlexaOfferToMaster, and their texts are shared so that both refuse
// alike, naming the member as the caller spelled it. Every text names the
// limit and its setting (docs/architecture.md, "Error messages"), and
// stays short: a KVS C SDK peer accepts STATUS_RESPONSE descriptions of
// up to 1,024 bytes.

// payloadTooLarge says that a payload of got characters is over the
// configured maximum.
func payloadTooLarge(member string, maximum, got int) string {
	return fmt.Sprintf("%s must be at most %d characters (signaling.max_payload_length), got %d", member, maximum, got)
}

// checkEventSize returns why env cannot be delivered to a recipient of
// role, or "" when it can: a KVS C SDK peer reads no event larger than
// MaxEventBytes (spec 6.4.2).
func (h *Hub) checkEventSize(role bus.Role, env bus.Envelope, member string) string {
	n := eventSize(role == bus.RoleMaster, env)
	if n <= h.cfg.MaxEventBytes {
		return ""
	}
	return fmt.Sprintf("the delivered message would be %d bytes, over the %d-byte limit of KVS SDK peers "+
		"(signaling.max_event_bytes); send a smaller %s", n, h.cfg.MaxEventBytes, member)
}

// mailboxFull says that the channel's mailboxes are at their limits, for
// a message to the absent recipient.
func (h *Hub) mailboxFull(recipient string) string {
	return fmt.Sprintf("The %s is not connected and the channel's message queue is full "+
		"(limits %d messages, %d bytes: signaling.mailbox_max_messages_per_channel, "+
		"signaling.mailbox_max_bytes_per_channel); retry later.",
		recipient, h.cfg.MailboxMaxMessagesPerChannel, h.cfg.MailboxMaxBytesPerChannel)
}
