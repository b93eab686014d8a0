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
// ResourceNotFoundException. Errors are *kvsapi.Error values, or ctx's error
// when ctx ends first.
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
	switch {
	case payload == "":
		return "", kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MessagePayload must not be empty")
	case len(payload) > kvsapi.MaxMessagePayloadLength:
		return "", kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MessagePayload must be at most %d characters, got %d",
			kvsapi.MaxMessagePayloadLength, len(payload))
	case !validBase64(payload):
		return "", kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MessagePayload must match the pattern [a-zA-Z0-9+/=]+ (base64)")
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
	if !h.alexaLimits.allow(channelKey(account, info.ARN), h.now()) {
		return "", kvsapi.Errorf(kvsapi.CodeClientLimitExceeded,
			"Too many SendAlexaOfferToMaster calls for this channel (limit %g per second).", h.cfg.AlexaOffersPerSecondPerChannel)
	}
	return h.exchangeAlexaOffer(ctx, info, account, senderClientID, payload)
}

func (h *Hub) exchangeAlexaOffer(ctx context.Context, info ChannelInfo, account, senderClientID, payload string) (string, error) {
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

	offer := bus.Envelope{Type: kvsapi.ActionSDPOffer, SenderClientID: senderClientID, Payload: payload}
	if _, err := h.bus.Publish(ctx, bus.MasterOf(account, info.ARN), offer, h.publishOptions(info.MessageTTL)); err != nil {
		if errors.Is(err, bus.ErrMailboxFull) {
			return "", kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "The master is not connected and the channel's message queue is full.")
		}
		return "", err
	}
	timeout := h.cfg.AlexaAnswerTimeout.Std()
	if timeout <= 0 {
		timeout = info.MessageTTL
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
		return "", kvsapi.Errorf(kvsapi.CodeResourceNotFound, "master did not answer within %s", timeout)
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
