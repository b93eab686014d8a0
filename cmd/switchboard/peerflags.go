package main

// Flags, credentials and error messages shared by `switchboard master` and
// `switchboard viewer`. Like the rest of the peer commands, this file uses
// the public SDK (client/) only, never internal/: the SDK is its own first
// user.

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
)

// exit statuses of the peer commands.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad flags
)

// peerFlags are the flags both peer commands take.
type peerFlags struct {
	endpoint, region, profile        string
	accessKey, secretKey, token      string
	caBundle                         string
	channel                          string
	create, relayOnly, noSTUN        bool
	stunURL, interfaces, data, level string
}

// register adds the shared flags to fs.
func (f *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint-url", "", "control-plane URL (default: AWS_ENDPOINT_URL_KINESIS_VIDEO, AWS_ENDPOINT_URL, the profile's endpoint_url, or real KVS in the region)")
	fs.StringVar(&f.region, "region", "", "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's region)")
	fs.StringVar(&f.profile, "profile", "", "profile of the AWS shared config and credentials files (default: AWS_PROFILE or default)")
	fs.StringVar(&f.accessKey, "access-key-id", "", "access key id (default: AWS_ACCESS_KEY_ID, then the profile)")
	fs.StringVar(&f.secretKey, "secret-access-key", "", "secret access key (default: AWS_SECRET_ACCESS_KEY, then the profile)")
	fs.StringVar(&f.token, "session-token", "", "session token of temporary credentials (default: AWS_SESSION_TOKEN)")
	fs.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra CAs to trust, such as a development server's (default: AWS_CA_BUNDLE or the profile's ca_bundle)")
	fs.StringVar(&f.channel, "channel", "", "signaling channel name or ARN (required)")
	fs.BoolVar(&f.create, "create", false, "create the channel when it does not exist")
	fs.BoolVar(&f.relayOnly, "relay-only", false, "use TURN relay candidates only")
	fs.StringVar(&f.stunURL, "stun-url", "", "STUN server to add (default: stun:stun.kinesisvideo.REGION.amazonaws.com:443, left out for a loopback endpoint)")
	fs.BoolVar(&f.noSTUN, "no-stun", false, "add no STUN server of our own (the service's ICE servers still apply)")
	fs.StringVar(&f.interfaces, "interfaces", "", "comma-separated network interfaces for host candidates, e.g. lo (default: all but loopback)")
	fs.StringVar(&f.data, "data", "", "open a data channel and send this message on it (see the command's help); print what arrives")
	fs.StringVar(&f.level, "log-level", "warn", "debug, info, warn or error")
}

// parseFlags parses args, then runs check, the command's own checks of
// its values (nil for none); it prints the problem and returns false with
// the exit status on failure or -h.
func parseFlags(fs *flag.FlagSet, f *peerFlags, args []string, stderr io.Writer, check func() error) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	if f.channel == "" {
		fmt.Fprintf(stderr, "%s: --channel is required\n", fs.Name())
		return exitUsage, false
	}
	if check != nil {
		if err := check(); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
			return exitUsage, false
		}
	}
	return exitOK, true
}

// checkStatsInterval refuses a --stats-interval of zero or less, which
// would reach time.NewTicker and panic once the peer has joined.
func checkStatsInterval(every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("--stats-interval must be positive, got %s", every)
	}
	return nil
}

// session is what a peer command works with once its flags are resolved.
type session struct {
	name        string // "switchboard master" or "switchboard viewer"
	kvs         *client.Client
	endpoint    string
	region      string
	credsSource string // where the credentials come from, for messages
	ice         client.ICEConfig
	log         *slog.Logger
}

// newSession resolves endpoint, region, credentials and trust as the AWS
// CLI does: flags, then the environment, then the shared files.
func (f *peerFlags) newSession(name string, stderr io.Writer) (*session, error) {
	shared, err := client.LoadSharedConfig(f.profile)
	if err != nil {
		return nil, err
	}
	s := &session{name: name, log: newPeerLogger(f.level, stderr)}
	creds, source, err := f.credentials(shared)
	if err != nil {
		return nil, err
	}
	s.credsSource = source
	cfg, err := client.ResolveConfig(client.Settings{Endpoint: f.endpoint, Region: f.region, CABundle: f.caBundle, Profile: f.profile}, creds)
	if err != nil {
		return nil, err
	}
	s.endpoint, s.region = cfg.Endpoint, cfg.Region
	if s.kvs, err = client.New(cfg); err != nil {
		return nil, err
	}
	s.ice = client.ICEConfig{RelayOnly: f.relayOnly, STUNURL: f.stunURL, SkipDefaultSTUN: f.noSTUN}
	for name := range strings.SplitSeq(f.interfaces, ",") {
		if name = strings.TrimSpace(name); name != "" {
			s.ice.Interfaces = append(s.ice.Interfaces, name)
		}
	}
	return s, nil
}

// credentials picks the credentials: both keys on the command line, else
// the named profile, else the environment and then the default profile.
func (f *peerFlags) credentials(shared client.SharedConfig) (client.CredentialsProvider, string, error) {
	switch {
	case f.accessKey != "" || f.secretKey != "":
		if f.accessKey == "" || f.secretKey == "" {
			return nil, "", errors.New("--access-key-id and --secret-access-key go together")
		}
		return client.StaticCredentials{AccessKeyID: f.accessKey, SecretAccessKey: f.secretKey, SessionToken: f.token}, "--access-key-id and --secret-access-key", nil
	case f.profile != "":
		return client.SharedCredentials{Profile: f.profile}, fmt.Sprintf("profile %q of %s", shared.Profile, shared.CredentialsFile), nil
	}
	provider := client.DefaultCredentials("")
	if _, err := provider.Retrieve(context.Background()); err != nil {
		return nil, "", err
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		return provider, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", nil
	}
	return provider, fmt.Sprintf("profile %q of %s", shared.Profile, shared.CredentialsFile), nil
}

// newPeerLogger logs text to stderr at the given level.
func newPeerLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// fail prints err as a sentence saying what is wrong and what to do, and
// returns the exit status.
func (s *session) fail(stderr io.Writer, channel string, err error) int {
	what, todo := s.explain(channel, err)
	fmt.Fprintf(stderr, "%s: %s\n", s.name, what)
	if todo != "" {
		fmt.Fprintf(stderr, "  %s\n", todo)
	}
	return exitError
}

// explain turns the failures users meet into what happened and what to
// do about it.
func (s *session) explain(channel string, err error) (string, string) {
	switch {
	case errors.Is(err, client.ErrUntrustedCertificate):
		return fmt.Sprintf("the TLS certificate of %s is not trusted (%s)", s.endpoint, rootCause(err)),
			"Trust the server's CA with --ca-bundle FILE or AWS_CA_BUNDLE=FILE (a development Switchboard prints its CA file when it starts)."
	case errors.Is(err, client.ErrUnreachable):
		return fmt.Sprintf("cannot reach %s (%s)", s.endpoint, rootCause(err)),
			"Check that the server is running and that --endpoint-url (or AWS_ENDPOINT_URL) is right."
	case client.IsAuthFailure(err):
		var apiErr *client.APIError
		errors.As(err, &apiErr)
		return fmt.Sprintf("the service refused the credentials from %s: %s", s.credsSource, apiErr.Message),
			fmt.Sprintf("Check the access key id and the secret, and that they are valid for region %s.", s.region)
	case client.IsNotFound(err):
		return fmt.Sprintf("the channel %q does not exist in region %s at %s", channel, s.region, s.endpoint),
			"Create it by adding --create, or check --channel, --region and --endpoint-url."
	case errors.Is(err, client.ErrNoRelay):
		return fmt.Sprintf("--relay-only needs a TURN relay, and %s offers none", s.endpoint),
			"Enable the server's TURN relay, or leave out --relay-only."
	case errors.Is(err, client.ErrReplaced):
		return "another peer with the same identity joined the channel and replaced this one",
			"Only one master per channel, and one viewer per client id, can be connected."
	}
	return err.Error(), ""
}

// rootCause is the innermost message of a network or TLS failure.
func rootCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) && verify.Err != nil {
		return verify.Err.Error()
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	return err.Error()
}

// setupFailure reports a problem found before connecting (flags,
// credentials, files).
func setupFailure(name string, stderr io.Writer, err error) int {
	if errors.Is(err, client.ErrNoCredentials) {
		fmt.Fprintf(stderr, "%s: no AWS credentials found\n  Pass --access-key-id and --secret-access-key, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a profile to ~/.aws/credentials (see --profile).\n", name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return exitUsage
}
