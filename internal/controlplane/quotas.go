package controlplane

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/ratelimit"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// quotas are the call-rate limits of the operations (Config). An
// operation's account quota is taken by the adapter once the caller is
// authenticated, before the body is decoded; its channel quota by the
// operation once it knows which channel the request names, before it
// reads or writes the store. A call one quota refuses does not count
// against the other: a channel refusal gives the account's token back.
type quotas struct {
	now       func() time.Time
	ops       map[string]*opQuota // nil when the limits are off
	throttled *prometheus.CounterVec
}

// opQuota is one operation's limiters, nil where there is no limit, and
// the messages that refuse a call (they depend on the configuration only).
type opQuota struct {
	account, channel               *ratelimit.Keyed
	accountRefusal, channelRefusal string
}

func newQuotas(cfg Config, now func() time.Time, throttled *prometheus.CounterVec) *quotas {
	if now == nil {
		now = time.Now
	}
	q := &quotas{now: now, throttled: throttled}
	if !cfg.RateLimits {
		return q
	}
	q.ops = map[string]*opQuota{}
	for op := range defaultLimits() {
		l, _ := cfg.limits(op)
		q.ops[op] = newOpQuota(op, l)
	}
	return q
}

func newOpQuota(op string, l Limits) *opQuota {
	o := &opQuota{}
	if r, ok := rule(l.AccountPerSecond, l.AccountBurst); ok {
		o.account = ratelimit.NewKeyed(r)
		o.accountRefusal = refusal(op, "account", r)
	}
	if r, ok := rule(l.ChannelPerSecond, l.ChannelBurst); ok {
		o.channel = ratelimit.NewKeyed(r)
		o.channelRefusal = refusal(op, "channel", r)
	}
	return o
}

// refusal says which limit refused a call of op and the settings that
// hold it (docs/architecture.md, "Error messages").
func refusal(op, level string, r ratelimit.Rule) string {
	key := "control_plane.operations." + op + "." + level
	return fmt.Sprintf("Too many %s calls for this %s (limit %g per second, burst %g: %s_per_second, %s_burst); retry later.",
		op, level, r.Rate, r.Burst, key, key)
}

// admitAccount takes one call of op from the account's quota.
func (q *quotas) admitAccount(op, account string) error {
	o := q.ops[op]
	if o == nil || o.account.Allow(account, q.now()) {
		return nil
	}
	q.throttled.WithLabelValues(op, "account").Inc()
	return kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "%s", o.accountRefusal)
}

// admitChannel takes one call of op from the quota of the account's
// channel that the request names by name or ARN (see channelNamed). When
// it names no valid channel, only the account quota applies.
func (q *quotas) admitChannel(op, account string, name, arn *string) error {
	o := q.ops[op]
	if o == nil || o.channel == nil {
		return nil
	}
	channel := channelNamed(name, arn)
	if channel == "" || o.channel.Allow(account+"\x00"+channel, q.now()) {
		return nil
	}
	o.account.GiveBack(account)
	q.throttled.WithLabelValues(op, "channel").Inc()
	return kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "%s", o.channelRefusal)
}

// channelNamed returns the name of the channel a request names, by ARN
// or by name, so that both ways share one channel quota and a client
// cannot double its quota by alternating them. It costs no store read: a
// channel is keyed by its account and name, and the ARN holds the name
// (an ARN of an earlier channel of the same name shares the bucket). The
// ARN wins when both are given, as it does when the channel is looked up.
// It returns "" when the request names no valid channel: the operation
// then refuses it without reading the store, and a malformed name, which
// may be long, never becomes a key.
func channelNamed(name, arn *string) string {
	if arn != nil {
		parsed, err := kvsapi.ParseChannelARN("ChannelARN", *arn)
		if err != nil {
			return ""
		}
		return parsed.Name
	}
	if name != nil && kvsapi.ValidateChannelName("ChannelName", *name) == nil {
		return *name
	}
	return ""
}
