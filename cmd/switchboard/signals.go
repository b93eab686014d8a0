package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// interruptContext returns a context that ends at the first SIGINT or
// SIGTERM, which starts the command's graceful shutdown. The signals are
// released before the context ends, so a second one has its default
// effect whenever it comes: the process ends at once, killed by the
// signal (a shell reports 130 for Ctrl-C), for a user who will not wait
// for a slow shutdown. stop releases the signals too.
func interruptContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	stop = func() {
		signal.Stop(signals)
		cancel()
	}
	go func() {
		select {
		case <-signals:
			stop()
		case <-ctx.Done():
		}
	}()
	return ctx, stop
}
