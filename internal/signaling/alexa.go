package signaling

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// SendAlexaOffer delivers an SDP offer to the channel's master as if it came
// from a viewer named senderClientID, and returns the payload of the
// master's SDP_ANSWER to that id (spec 5.2). When the master is absent the
// offer waits in its mailbox for the channel's TTL; when no answer arrives
// within cfg.AlexaAnswerTimeout (default: the channel TTL) the error is
// ResourceNotFoundException. A call that ends without an answer, for any
// reason, withdraws its offer from the mailbox if the master has not
// received it yet. Errors are *kvsapi.Error values, or ctx's error when
// ctx ends first.
//
// While it waits, the call holds the viewer address senderClientID through
// the bus (uncounted, without taking it over from a connected viewer), so the
// answer reaches it on whichever node the master is connected to.
func (h *Hub) SendAlexaOffer(ctx context.Context, account, channelARN, senderClientID, payload string) (string, error) {
	res, err := h.sendAlexaOffer(ctx, account, channelARN, senderClientID, payload)
	result := "answered"
	if err != nil {
		result = "error"
		var apiErr *kvsapi.Error
		if errors.As(err, &apiErr) {
			result = apiErr.Code.Name
		}
	}
	h.metrics.alexaOffers.WithLabelValues(result).Inc()
	return res, err
}

func (h *Hub) sendAlexaOffer(ctx context.Context, account, channelARN, senderClientID, payload string) (string, error) {
	arn, err := kvsapi.ParseChannelARN("ChannelARN", channelARN)
	if err != nil {
		return "", err
	}
	if err := kvsapi.ValidateClientID("SenderClientId", senderClientID); err != nil {
		return "", err
	}
	offer := bus.Envelope{Type: kvsapi.ActionSDPOffer, SenderClientID: senderClientID, Payload: payload}
	if err := h.checkAlexaOffer(offer); err != nil {
		return "", err
	}
	if arn.Account != account {
		return "", kvsapi.Errorf(kvsapi.CodeResourceNotFound, kvsapi.ChannelNotFoundMessage)
	}
	info, err := h.channels.LookupChannel(ctx, account, channelARN)
	if err != nil {
		return "", err
	}
	if info.ARN == "" {
		info.ARN = channelARN
	}
	// Spec 8 sets two quotas: per channel and per account. A call the
	// account's quota refuses does not count against the channel's.
	channel := channelKey(account, info.ARN)
	if !h.alexaLimits.Allow(channel, h.now()) {
		return "", kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "%s",
			h.alexaLimits.refusal("SendAlexaOfferToMaster calls for this channel"))
	}
	if !h.alexaAccounts.Allow(account, h.now()) {
		h.alexaLimits.GiveBack(channel)
		return "", kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "%s",
			h.alexaAccounts.refusal("SendAlexaOfferToMaster calls for this account"))
	}
	return h.exchangeAlexaOffer(ctx, info, account, offer)
}

// checkAlexaOffer checks the offer's payload. The configured payload
// length and event size apply as to a WebSocket message, with the same
// texts (see validateClientMessage and relay): a KVS C SDK master must be
// able to read what it is sent.
func (h *Hub) checkAlexaOffer(offer bus.Envelope) error {
	const member = "MessagePayload"
	p := offer.Payload
	switch {
	case p == "":
		return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MessagePayload must not be empty")
	case len(p) > h.cfg.MaxPayloadLength:
		return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s", payloadTooLarge(member, h.cfg.MaxPayloadLength, len(p)))
	case !validBase64(p):
		return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MessagePayload must be base64 text: characters of [a-zA-Z0-9+/], in groups of four, the last padded with '='")
	}
	if text := h.checkEventSize(bus.RoleMaster, offer, member); text != "" {
		return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s", text)
	}
	return nil
}

func (h *Hub) exchangeAlexaOffer(ctx context.Context, info ChannelInfo, account string, offer bus.Envelope) (string, error) {
	senderClientID := offer.SenderClientID
	w := &alexaWaiter{answer: make(chan string, 1), done: make(chan struct{})}
	sub, _, err := h.bus.Subscribe(ctx, bus.ViewerOf(account, info.ARN, senderClientID), w,
		bus.SubscribeOptions{NoTakeover: true, Uncounted: true})
	switch {
	case errors.Is(err, bus.ErrAddressInUse):
		return "", kvsapi.Errorf(kvsapi.CodeClientLimitExceeded,
			"SenderClientId %q is in use by a connected viewer or a pending offer.", senderClientID)
	case errors.Is(err, bus.ErrChannelClosed):
		return "", kvsapi.Errorf(kvsapi.CodeResourceNotFound, kvsapi.ChannelNotFoundMessage)
	case err != nil:
		return "", err
	}
	defer sub.Unsubscribe()

	// The offer is published under the TTL just looked up. An update
	// racing this call may count as coming after it: it concerns this one
	// message, not every message of a connection for an hour (see
	// conn.setTTL).
	if _, err := h.bus.Publish(ctx, bus.MasterOf(account, info.ARN), offer, h.publishOptions(info.MessageTTL)); err != nil {
		if errors.Is(err, bus.ErrMailboxFull) {
			return "", kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "%s", h.mailboxFull("master"))
		}
		return "", err
	}
	answer, err := h.awaitAlexaAnswer(ctx, w, account, info)
	if err != nil {
		h.withdrawAlexaOffer(ctx, account, info.ARN, offer)
	}
	return answer, err
}

// awaitAlexaAnswer waits for the master's answer to the offer w stands
// in for.
func (h *Hub) awaitAlexaAnswer(ctx context.Context, w *alexaWaiter, account string, info ChannelInfo) (string, error) {
	timeout, setting := h.cfg.AlexaAnswerTimeout.Std(), "signaling.alexa_answer_timeout"
	if timeout <= 0 {
		timeout, setting = info.MessageTTL, "the channel's MessageTtlSeconds"
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case answer := <-w.answer:
		return answer, nil
	case <-w.done:
		return "", w.err
	case <-h.stopping:
		return "", kvsapi.Errorf(kvsapi.CodeServiceUnavailable, "The server is shutting down.")
	case <-ctx.Done():
		return "", ctx.Err()
	case <-timer.C:
		if p, _ := h.bus.Presence(ctx, account, info.ARN); !p.Master {
			return "", kvsapi.Errorf(kvsapi.CodeResourceNotFound, "master not connected")
		}
		return "", kvsapi.Errorf(kvsapi.CodeResourceNotFound, "master did not answer within %s (%s)", timeout, setting)
	}
}

// alexaWithdrawTimeout bounds the bus call that takes an unanswered offer
// back.
const alexaWithdrawTimeout = 5 * time.Second

// withdrawAlexaOffer takes the offer out of the master's mailbox when no
// answer will be awaited any more (the caller left, the wait ended): a
// master connecting later would otherwise answer an offer nobody waits
// for, and start a session for nothing. The bus withdraws only the offer
// exactly as sent, so the offer of a viewer that took the sender id over
// (which replaced this one in the mailbox) stays. An offer the master
// has received already is beyond reach.
func (h *Hub) withdrawAlexaOffer(ctx context.Context, account, arn string, offer bus.Envelope) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), alexaWithdrawTimeout)
	defer cancel()
	withdrawn, err := h.bus.Withdraw(ctx, bus.MasterOf(account, arn), offer)
	switch {
	case withdrawn:
		h.log.Debug("signaling Alexa offer withdrawn: nobody waits for its answer", "channel", arn, "sender", offer.SenderClientID)
	case err != nil && !errors.Is(err, bus.ErrChannelClosed) && !errors.Is(err, bus.ErrClosed):
		h.log.Warn("signaling Alexa offer not withdrawn: a master may still answer it", "channel", arn, "sender", offer.SenderClientID, "error", err)
	}
}

// alexaWaiter is the bus handler standing in for the Alexa "viewer" while
// SendAlexaOffer waits: it keeps the first SDP_ANSWER and ignores the
// master's ICE candidates (Alexa does not trickle).
type alexaWaiter struct {
	answer chan string

	once sync.Once
	done chan struct{}
	err  error
}

func (w *alexaWaiter) Deliver(env bus.Envelope) bool {
	if env.Type == kvsapi.ActionSDPAnswer {
		select {
		case w.answer <- env.Payload:
		default:
		}
	}
	return true
}

func (w *alexaWaiter) Displaced() {
	w.end(kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "A viewer connected with the same client id as the pending offer."))
}

func (w *alexaWaiter) ChannelClosed() {
	w.end(kvsapi.Errorf(kvsapi.CodeResourceNotFound, kvsapi.ChannelNotFoundMessage))
}

func (w *alexaWaiter) end(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.done)
	})
}
