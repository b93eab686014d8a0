package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure a run. Zero values select each scenario's defaults
// (full size, or the smoke size with Smoke).
type Options struct {
	// Binary is the switchboard executable started as the bare forwarder
	// and, unless ServerBinary is set, as the server under test; this
	// executable when empty.
	Binary string
	// ServerBinary is the server under test when it is another build (to
	// measure a before and an after with the same generator).
	ServerBinary string
	// Out is where JSON reports, plots and profiles go.
	Out string
	// Smoke runs a small, short form that checks correctness only.
	Smoke bool
	// N is the scenario's size: connections, allocations or sessions.
	N int
	// Duration is how long each measured step lasts.
	Duration time.Duration
	// Rates, when set, are the offered rates (relay: messages/s, turn:
	// packets/s) of the steps to run, instead of stepping up from a start
	// rate to saturation; relay then skips its half-saturation step.
	Rates []float64
	// Direction is the way the turn scenario sends its media:
	// client-to-peer (the default) or peer-to-client.
	Direction string
	// ClassicTLS makes the connections generator offer X25519 alone
	// instead of Go's default hybrid post-quantum key share.
	ClassicTLS bool
	// ResumeTLS makes the connections generator keep session tickets and
	// resume TLS sessions, as browsers and reconnecting clients do.
	ResumeTLS bool
	// Concurrency is the number of concurrent clients or connects.
	Concurrency int
	// Sources is the number of loopback source addresses (127.0.0.1 up).
	Sources int
	// Profile collects CPU, heap and allocation profiles and execution
	// traces of the server under test (and of the relay's bare forwarder,
	// in files named forwarder-*), and CPU profiles and traces of the
	// generator.
	Profile bool
	// Command is the command line recorded in reports.
	Command string
	// Progress receives one line per step; discarded when nil.
	Progress io.Writer
}

// scenario runs one measurement and returns its report.
type scenario func(ctx context.Context, opts Options) (*Report, error)

// Scenarios lists the scenario names in the order "all" runs them.
var Scenarios = []string{"connections", "relay", "turn", "controlplane", "ttff"}

func lookup(name string) scenario {
	switch name {
	case "connections":
		return runConnections
	case "relay":
		return runRelay
	case "turn":
		return runTURN
	case "controlplane":
		return runControlPlane
	case "ttff":
		return runTTFF
	}
	return nil
}

// Run runs one scenario by name, prints its report to w and writes its
// JSON (and plots) under opts.Out.
func Run(ctx context.Context, name string, opts Options, w io.Writer) (*Report, error) {
	run := lookup(name)
	if run == nil {
		return nil, fmt.Errorf("bench: unknown scenario %q (one of %s, all)", name, strings.Join(Scenarios, ", "))
	}
	if opts.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opts.Binary = exe
	}
	if opts.ServerBinary == "" {
		opts.ServerBinary = opts.Binary
	}
	if opts.Out == "" {
		opts.Out = "bench-results"
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	raiseFileLimit(1 << 20)
	started := time.Now()
	rep, err := run(ctx, opts)
	if err == nil && ctx.Err() != nil {
		// The scenario stopped early: what it checked is not the whole
		// run, so it must not pass for one.
		err = fmt.Errorf("bench: %s interrupted before it finished: %w", name, context.Cause(ctx))
		if rep != nil {
			rep.check("the run finished", false, "%v", context.Cause(ctx))
		}
	}
	if rep == nil {
		return nil, err
	}
	if opts.Profile {
		for _, path := range summarizeTraces(opts.Out, started) {
			rep.note("run-queue waits: %s", path)
		}
	}
	if path, jerr := rep.writeJSON(opts.Out); jerr == nil {
		rep.note("JSON report: %s", path)
	}
	rep.Print(w)
	return rep, err
}

const usage = `Usage: switchboard bench SCENARIO [flags]

Scenarios: connections, relay, turn, controlplane, ttff, all.
Each starts the server under test (and its baseline) as child processes on
loopback, drives them, prints a table and writes JSON and PNG plots to --out.
--n, --duration, --concurrency and --sources left at 0 take the scenario's
own value (smaller with --smoke); the report lists the values used.

Flags:
`

// Main is the `switchboard bench` command; it returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == forwarderCommand {
		return forwarderMain(args[1:], stderr)
	}
	fs := flag.NewFlagSet("switchboard bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var opts Options
	fs.StringVar(&opts.Out, "out", "bench-results", "directory for JSON reports, PNG plots and profiles")
	fs.BoolVar(&opts.Smoke, "smoke", false, "small and short form that checks correctness (what CI runs)")
	fs.IntVar(&opts.N, "n", 0, "size: connections (connections), allocations (turn), sessions (ttff), channels (relay)")
	fs.DurationVar(&opts.Duration, "duration", 0, "length of each measured step")
	fs.Func("rates", "comma-separated offered rates to run as the steps (relay: msg/s, turn: packets/s) instead of stepping to saturation", func(v string) error {
		rates, err := parseRates(v)
		opts.Rates = rates
		return err
	})
	fs.StringVar(&opts.Direction, "direction", "", "turn: which way the media goes, client-to-peer (default) or peer-to-client")
	fs.IntVar(&opts.Concurrency, "concurrency", 0, "concurrent clients or connects in flight")
	fs.IntVar(&opts.Sources, "sources", 0, "loopback source addresses to connect from (127.0.0.1 ...)")
	fs.StringVar(&opts.ServerBinary, "server-binary", "", "switchboard build to measure (default: this one), e.g. an earlier build for a before/after")
	fs.BoolVar(&opts.ClassicTLS, "classic-tls", false, "connections: the generator offers X25519 only, like the KVS C SDK with OpenSSL 1.1, instead of Go's default X25519MLKEM768")
	fs.BoolVar(&opts.ResumeTLS, "resume-tls", false, "connections: the generator resumes TLS sessions with the tickets the server issued, as browsers and reconnecting clients do (the key exchange still runs, the certificate signature does not)")
	fs.BoolVar(&opts.Profile, "profile", false, "save CPU, heap and allocation profiles and execution traces of the server under test and the relay's forwarder (and CPU profiles and traces of the generator) in --out, with each trace's run-queue waits summarised in NAME.sched.txt")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	name := args[0]
	if name != "all" && lookup(name) == nil {
		fmt.Fprintf(stderr, "switchboard bench: unknown scenario %q (one of %s, all)\n", name, strings.Join(Scenarios, ", "))
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	opts.Command = "switchboard bench " + strings.Join(args, " ")
	opts.Progress = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	names := []string{name}
	if name == "all" {
		names = Scenarios
	}
	status := 0
	for _, n := range names {
		o := opts
		o.Out = filepath.Clean(opts.Out)
		rep, err := Run(ctx, n, o, stdout)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "switchboard bench %s: %v\n", n, err)
			status = 1
		case len(rep.Failed()) > 0:
			fmt.Fprintf(stderr, "switchboard bench %s: %d correctness check(s) failed\n", n, len(rep.Failed()))
			status = 1
		}
		if ctx.Err() != nil {
			return 1
		}
	}
	return status
}

// parseRates reads a comma-separated list of positive rates.
func parseRates(v string) ([]float64, error) {
	var rates []float64
	for _, field := range strings.Split(v, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("%q is not a positive rate", field)
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// progressf writes one progress line.
func progressf(opts Options, format string, args ...any) {
	fmt.Fprintf(opts.Progress, "bench: "+format+"\n", args...)
}

// pick returns v, or the smoke or full default when v is zero.
func pick[T comparable](v T, smoke bool, smokeDefault, fullDefault T) T {
	var zero T
	if v != zero {
		return v
	}
	if smoke {
		return smokeDefault
	}
	return fullDefault
}
