package bolt

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// benchChannel is a channel of typical size.
func benchChannel(account, name string) store.Channel {
	return store.Channel{
		Account:    account,
		Name:       name,
		ARN:        "arn:aws:kinesisvideo:us-west-2:" + account + ":channel/" + name + "/1700000000000",
		Type:       "SINGLE_MASTER",
		Status:     "ACTIVE",
		CreatedAt:  time.Now(),
		MessageTTL: 60,
		Version:    "3f2a9c1e0b7d",
		Tags:       map[string]string{"site": "lab", "owner": "video-team"},
	}
}

// BenchmarkCreateChannelParallel measures durable creates from many
// concurrent writers, as a busy control plane would issue them; each op is
// one acknowledged, fsynced create. Writers are per CPU, times GOMAXPROCS.
func BenchmarkCreateChannelParallel(b *testing.B) {
	cases := []struct {
		name       string
		perCPU     int
		batchDelay time.Duration
	}{
		{"writers=8x", 8, 0},
		{"writers=64x", 64, 0},
		{"writers=64x,delay=none", 64, -1},
		{"writers=64x,delay=10ms", 64, 10 * time.Millisecond},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := openTemp(b, Options{BatchDelay: tc.batchDelay})
			var next atomic.Int64
			b.SetParallelism(tc.perCPU)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := next.Add(1)
					ch := benchChannel(fmt.Sprint(n%50), fmt.Sprintf("cam-%09d", n))
					if err := s.CreateChannel(b.Context(), ch, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// BenchmarkCreateChannelSerial measures one writer alone, whose every
// create waits for the batch delay and its own fsync.
func BenchmarkCreateChannelSerial(b *testing.B) {
	s, _ := openTemp(b, Options{})
	n := 0
	for b.Loop() {
		n++
		if err := s.CreateChannel(b.Context(), benchChannel("1", fmt.Sprintf("cam-%09d", n)), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetChannel measures point reads from a store of 10,000
// channels.
func BenchmarkGetChannel(b *testing.B) {
	s, _ := openTemp(b, Options{})
	const channels = 10_000
	names := make([]string, channels)
	errs := make(chan error, channels)
	for i := range names {
		names[i] = fmt.Sprintf("cam-%05d", i)
		go func() { errs <- s.CreateChannel(b.Context(), benchChannel("1", names[i]), 0) }()
	}
	for range channels {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := s.GetChannel(b.Context(), "1", names[i%channels]); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}
