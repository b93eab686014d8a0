// Command switchboard is the Switchboard server and its tools: a
// self-hosted signaling service that speaks the Amazon Kinesis Video
// Streams WebRTC protocol.
//
// Usage:
//
//	switchboard serve [flags]         run the server
//	switchboard check-config [flags]  report every configuration problem
//	switchboard revoke-turn-keys      refuse every TURN credential minted so far
//	switchboard master [flags]        stream media files to viewers
//	switchboard viewer [flags]        receive media, with statistics
//	switchboard bench SCENARIO        measure against baselines
//	switchboard version               print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-rtc/switchboard/internal/app"
	"github.com/switchboard-rtc/switchboard/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: switchboard <command> [flags]

Commands:
  serve          run the signaling server (HTTPS, WebSocket)
  check-config   load the configuration and report every problem
  revoke-turn-keys
                 with the server stopped: delete the keys that sign TURN
                 credentials, so that every credential minted so far is refused
  master         join a channel as its master and stream media files
  viewer         join a channel as a viewer; receive, save and report
  bench          measure the server against baselines (see docs/benchmarks.md)
  version        print the version

Run "switchboard <command> -h" or "switchboard help <command>" for the
flags of a command. Every flag of serve, check-config and
revoke-turn-keys can also be set as SWITCHBOARD_<FLAG> in the
environment (dashes become underscores) or in a YAML file given with
--config; master and viewer read AWS_* variables and ~/.aws like the AWS
CLI.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "revoke-turn-keys":
		return revokeTURNKeys(args[1:], stdout, stderr)
	case "master":
		return runMaster(args[1:], stdout, stderr)
	case "viewer":
		return runViewer(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "switchboard", version)
		return 0
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" {
			// "switchboard help serve" is "switchboard serve -h".
			if args[1] == "help" || args[1] == "version" {
				fmt.Fprint(stdout, usage)
				return 0
			}
			return run([]string{args[1], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, stdout, stderr io.Writer) int {
	var warnings []string
	cfg, err := config.Load("switchboard serve", config.Source{Args: args, Output: stderr,
		Warn: func(w string) { warnings = append(warnings, w) }})
	if err != nil {
		printWarnings(warnings, stderr)
		return configFailure(err, stderr)
	}
	logger := newLogger(cfg.Log, stderr)
	// Logged, not printed, once the logger exists: they then have the
	// level and format the operator chose.
	for _, w := range warnings {
		logger.Warn("configuration: " + w)
	}
	ctx, stop := interruptContext()
	defer stop()
	if err := app.New(cfg, app.Options{Logger: logger, Stdout: stdout}).Run(ctx); err != nil {
		logger.Error("server stopped", "error", err)
		fmt.Fprintf(stderr, "switchboard: %v\n", err)
		return 1
	}
	return 0
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	var warnings []string
	cfg, err := config.Load("switchboard check-config", config.Source{Args: args, Output: stderr,
		Warn: func(w string) { warnings = append(warnings, w) }})
	printWarnings(warnings, stderr)
	if err != nil {
		return configFailure(err, stderr)
	}
	out, _ := yaml.Marshal(cfg.Redacted())
	fmt.Fprintf(stdout, "configuration is valid; effective settings:\n%s", out)
	return 0
}

// revokeTURNKeys runs app.RevokeTURNKeys on the configuration serve
// would load from the same flags, file and environment.
func revokeTURNKeys(args []string, stdout, stderr io.Writer) int {
	var warnings []string
	cfg, err := config.Load("switchboard revoke-turn-keys", config.Source{Args: args, Output: stderr,
		Warn: func(w string) { warnings = append(warnings, w) }})
	printWarnings(warnings, stderr)
	if err != nil {
		return configFailure(err, stderr)
	}
	if err := app.RevokeTURNKeys(context.Background(), cfg, time.Now()); err != nil {
		fmt.Fprintf(stderr, "switchboard: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "TURN credential keys revoked in %s: every TURN credential minted so far is refused, "+
		"and the server makes new keys when it starts\n", cfg.Server.DataDir)
	return 0
}

// printWarnings writes the configuration's warnings, one a line.
func printWarnings(warnings []string, stderr io.Writer) {
	for _, w := range warnings {
		fmt.Fprintf(stderr, "switchboard: warning: %s\n", w)
	}
}

func configFailure(err error, stderr io.Writer) int {
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	problems := configProblems(err)
	fmt.Fprintf(stderr, "switchboard: the configuration has %d problem(s):\n", len(problems))
	for _, p := range problems {
		// A problem may span lines (a YAML error and its position).
		fmt.Fprintf(stderr, "  - %s\n", strings.ReplaceAll(p, "\n", "\n    "))
	}
	return 2
}

// configProblems lists the problems config.Load joined together, one
// entry a problem however many lines its text has.
func configProblems(err error) []string {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range joined.Unwrap() {
		out = append(out, configProblems(e)...)
	}
	return out
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
