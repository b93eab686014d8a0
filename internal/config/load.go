package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable the server reads.
const EnvPrefix = "SWITCHBOARD_"

// setting is one knob reachable from the environment and the command line.
// Its flag is --name and its variable SWITCHBOARD_NAME (dashes become
// underscores).
type setting struct {
	name  string
	usage string
	field field
}

// field reads and writes the value of a setting in a Config, as text.
type field struct {
	set func(c *Config, value string) error
	get func(c *Config) string
}

// envName is the environment variable of the setting.
func (s setting) envName() string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func settings() []setting {
	return []setting{
		{"addr", "HTTPS listen address", str(func(c *Config) *string { return &c.Server.Addr })},
		{"public-host", "host[:port] advertised in endpoints (default: derived from the listener)", str(func(c *Config) *string { return &c.Server.PublicHost })},
		{"data-dir", "directory for the database, credentials and development TLS files", str(func(c *Config) *string { return &c.Server.DataDir })},
		{"region", "AWS region this server answers for", str(func(c *Config) *string { return &c.Server.Region })},
		{"account-id", "12-digit account id of the root credentials", str(func(c *Config) *string { return &c.Server.AccountID })},
		{"tls-cert", "PEM certificate chain (default: a development CA and certificate in DATA_DIR/tls)", str(func(c *Config) *string { return &c.Server.TLSCert })},
		{"tls-key", "PEM private key for --tls-cert", str(func(c *Config) *string { return &c.Server.TLSKey })},
		{"access-key-id", "root access key id (default: generated once and kept in the data directory)", str(func(c *Config) *string { return &c.Credentials.AccessKeyID })},
		{"secret-access-key", "root secret access key", str(func(c *Config) *string { return &c.Credentials.SecretAccessKey })},
		{"log-level", "debug, info, warn or error", str(func(c *Config) *string { return &c.Log.Level })},
		{"log-format", "text or json", str(func(c *Config) *string { return &c.Log.Format })},
		{"max-channels-per-account", "channel limit per account (0: none)", integer(func(c *Config) *int { return &c.Channels.MaxPerAccount })},
		{"control-plane-rate-limits", "limit the call rates of the REST control plane (true or false)", boolean(func(c *Config) *bool { return &c.ControlPlane.RateLimits })},
		{"max-viewers-per-channel", "concurrent viewers a channel accepts", integer(func(c *Config) *int { return &c.Signaling.MaxViewersPerChannel })},
		{"connects-per-second-per-channel", "new WebSocket connections per second a channel accepts", float(func(c *Config) *float64 { return &c.Signaling.ConnectsPerSecondPerChannel })},
		{"turn", "run the embedded STUN/TURN server (true or false)", boolean(func(c *Config) *bool { return &c.Turn.Enabled })},
		{"turn-udp-addr", "STUN and TURN/UDP listen address (\"\" turns it off)", str(func(c *Config) *string { return &c.Turn.UDPAddr })},
		{"turn-tcp-addr", "TURN/TCP listen address (\"\" turns it off)", str(func(c *Config) *string { return &c.Turn.TCPAddr })},
		{"turn-tls-addr", "TURN/TLS listen address, with the HTTPS certificate (\"\" turns it off)", str(func(c *Config) *string { return &c.Turn.TLSAddr })},
		{"relay-ip", "address advertised in relayed candidates", str(func(c *Config) *string { return &c.Turn.RelayIP })},
		{"turn-relay-port-min", "lowest relay port", integer(func(c *Config) *int { return &c.Turn.RelayPortMin })},
		{"turn-relay-port-max", "highest relay port", integer(func(c *Config) *int { return &c.Turn.RelayPortMax })},
		{"turn-allow-peer", "CIDR the relay may reach although the default policy denies it (repeatable)", appendTo(func(c *Config) *[]string { return &c.Turn.AllowPeers })},
		{"turn-on-https-port", "serve TURN over TLS on the HTTPS port too (true or false)", boolean(func(c *Config) *bool { return &c.Turn.OnHTTPSPort })},
		{"turn-external-uris", "turn:, turns:, stun: or stuns: URIs of an external TURN server, comma-separated (repeatable)", appendTo(func(c *Config) *[]string { return &c.Turn.ExternalURIs })},
		{"turn-external-secret", "shared secret of the external TURN server", str(func(c *Config) *string { return &c.Turn.ExternalSecret })},
		{"turn-credential-ttl", "lifetime of TURN credentials (GetIceServerConfig Ttl)", text(func(c *Config) textField { return &c.Turn.CredentialTTL })},
		{"turn-bandwidth-bits-per-second", "bandwidth cap per allocation and direction (0: none)", integer64(func(c *Config) *int64 { return &c.Turn.BandwidthBitsPerSecond })},
		{"turn-max-allocations-per-channel", "live TURN allocations one channel may hold (0: none)", integer(func(c *Config) *int { return &c.Turn.MaxAllocationsPerChannel })},
		{"turn-max-allocations-per-account", "live TURN allocations all the channels of one account may hold (0: none)", integer(func(c *Config) *int { return &c.Turn.MaxAllocationsPerAccount })},
		{"turn-max-tcp-connections", "live TURN client connections over TCP, TLS and the HTTPS port (0: none)", integer(func(c *Config) *int { return &c.Turn.MaxTCPConnections })},
		{"turn-max-tcp-connections-per-ip", "live TURN client connections over TCP, TLS and the HTTPS port from one IP address or IPv6 /64 (0: none)", integer(func(c *Config) *int { return &c.Turn.MaxTCPConnectionsPerIP })},
		{"max-body-bytes", "largest request body accepted", integer64(func(c *Config) *int64 { return &c.Server.MaxBodyBytes })},
		{"shutdown-timeout", "how long a graceful shutdown may take", text(func(c *Config) textField { return &c.Server.ShutdownTimeout })},
	}
}

func str(ptr func(*Config) *string) field {
	return field{
		set: func(c *Config, v string) error { *ptr(c) = v; return nil },
		get: func(c *Config) string { return *ptr(c) },
	}
}

func integer(ptr func(*Config) *int) field {
	return field{
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			*ptr(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*ptr(c)) },
	}
}

func integer64(ptr func(*Config) *int64) field {
	return field{
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			*ptr(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(*ptr(c), 10) },
	}
}

func boolean(ptr func(*Config) *bool) field {
	return field{
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			*ptr(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*ptr(c)) },
	}
}

func float(ptr func(*Config) *float64) field {
	return field{
		set: func(c *Config, v string) error {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("want a number, got %q", v)
			}
			*ptr(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatFloat(*ptr(c), 'g', -1, 64) },
	}
}

// switchSettings are the on/off settings, which may be given as a bare flag.
var switchSettings = map[string]bool{"turn": true, "turn-on-https-port": true, "control-plane-rate-limits": true}

// appendTo adds comma-separated values to a list; the flag may repeat.
func appendTo(ptr func(*Config) *[]string) field {
	return field{
		set: func(c *Config, v string) error {
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					*ptr(c) = append(*ptr(c), item)
				}
			}
			return nil
		},
		get: func(c *Config) string { return strings.Join(*ptr(c), ",") },
	}
}

// textField is a value with its own text form, such as a Duration.
type textField interface {
	UnmarshalText([]byte) error
	String() string
}

func text(ptr func(*Config) textField) field {
	return field{
		set: func(c *Config, v string) error { return ptr(c).UnmarshalText([]byte(v)) },
		get: func(c *Config) string { return ptr(c).String() },
	}
}

// Source is what Load reads besides defaults: the command-line arguments of
// the subcommand and the environment.
type Source struct {
	Args []string
	// Env looks up an environment variable; os.LookupEnv when nil.
	Env func(string) (string, bool)
	// Environ lists the environment as KEY=VALUE lines, to find the
	// SWITCHBOARD_* variables that are no setting. When nil it is
	// os.Environ if Env is nil too, and nothing otherwise.
	Environ func() []string
	// Warn receives each warning: a problem that does not stop the
	// server, such as an unknown SWITCHBOARD_* variable. Warnings are
	// dropped when nil.
	Warn func(message string)
	// Output receives flag usage and errors; io.Discard when nil.
	Output io.Writer
}

// ErrHelp is returned when the arguments asked for help.
var ErrHelp = flag.ErrHelp

// Load merges defaults, the YAML file (--config or SWITCHBOARD_CONFIG), the
// environment and the flags, in that order, and validates the result. The
// error lists every problem found, one per line.
func Load(name string, src Source) (Config, error) {
	env, environ := src.Env, src.Environ
	if env == nil {
		env = os.LookupEnv
		if environ == nil {
			environ = os.Environ
		}
	}
	out := src.Output
	if out == nil {
		out = io.Discard
	}
	cfg := Default()
	fs, file, flagValues := newFlagSet(name, out)
	if err := fs.Parse(src.Args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, unexpectedArguments(fs, src.Args)
	}
	if environ != nil && src.Warn != nil {
		for _, w := range unknownVariables(environ()) {
			src.Warn(w)
		}
	}
	var problems []error
	if *file == "" {
		*file, _ = env(EnvPrefix + "CONFIG")
	}
	if *file != "" {
		if err := decodeFile(*file, &cfg); err != nil {
			problems = append(problems, err)
		}
	}
	for _, s := range settings() {
		key := s.envName()
		if v, ok := env(key); ok {
			if err := s.field.set(&cfg, v); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", key, err))
			}
		}
	}
	for _, fv := range *flagValues {
		if err := fv.setting.field.set(&cfg, fv.value); err != nil {
			problems = append(problems, fmt.Errorf("--%s: %w", fv.setting.name, err))
		}
	}
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	return cfg, errors.Join(problems...)
}

type flagValue struct {
	setting setting
	value   string
}

func newFlagSet(name string, out io.Writer) (*flag.FlagSet, *string, *[]flagValue) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	file := fs.String("config", "", "YAML configuration file (or SWITCHBOARD_CONFIG)")
	values := &[]flagValue{}
	defaults := Default()
	for _, s := range settings() {
		record := func(v string) error {
			*values = append(*values, flagValue{setting: s, value: v})
			return nil
		}
		if switchSettings[s.name] {
			fs.BoolFunc(s.name, s.usage, record) // --turn alone means true
		} else {
			fs.Func(s.name, s.usage, record)
		}
		// The flag only records what is given, so that an absent flag
		// leaves the file and the environment in force; its DefValue is
		// used for the help text alone, which then shows the built-in
		// default ("-h" prints it when it is not empty).
		fs.Lookup(s.name).DefValue = s.field.get(&defaults)
	}
	return fs, file, values
}

// decodeFile overlays a YAML file on cfg, rejecting unknown keys.
func decodeFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(cfg)
	if errors.Is(err, io.EOF) {
		return nil // an empty file, or one with comments only
	}
	var typeErr *yaml.TypeError
	if err != nil && !errors.As(err, &typeErr) {
		// A syntax error: the decoder cannot go on to a next document.
		return fmt.Errorf("config file %s: %w", path, err)
	}
	problems := []error{}
	if err != nil {
		problems = append(problems, fmt.Errorf("config file %s: %w", path, err))
	}
	if line, err := nextDocument(dec); err != nil {
		problems = append(problems, fmt.Errorf("config file %s: after the first YAML document: %w", path, err))
	} else if line > 0 {
		problems = append(problems, fmt.Errorf("config file %s: line %d starts a second YAML document, "+
			"whose settings would be ignored; a configuration file holds one YAML document (remove the \"---\" line or merge the documents)", path, line))
	}
	return errors.Join(problems...)
}

// nextDocument returns the line where the decoder's next document with
// something in it starts, or 0 when there is none. A bare document
// marker ("---" or "..." with nothing after it) does not count. A next
// document that does not parse is returned as an error.
func nextDocument(dec *yaml.Decoder) (line int, err error) {
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if !emptyDocument(&doc) {
			return doc.Line, nil
		}
	}
}

// emptyDocument reports whether a decoded document holds nothing but null.
func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return len(doc.Content) == 1 && n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
}

// Redacted returns a copy safe to print: secrets are masked.
func (c Config) Redacted() Config {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "********"
	}
	c.Credentials.SecretAccessKey = mask(c.Credentials.SecretAccessKey)
	accounts := make([]Account, len(c.Accounts))
	for i, a := range c.Accounts {
		a.SecretAccessKey = mask(a.SecretAccessKey)
		accounts[i] = a
	}
	c.Accounts = accounts
	c.Turn = c.Turn.Redacted()
	return c
}

// unexpectedArguments reports the arguments the flags left over. The
// usual cause is a true/false flag given its value after a space
// ("--turn false"), which the flag package reads as "--turn" followed by
// an argument; the error then says how to write it.
func unexpectedArguments(fs *flag.FlagSet, args []string) error {
	err := fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	first := len(args) - fs.NArg()
	if first == 0 {
		return err
	}
	name := strings.TrimLeft(args[first-1], "-")
	f := fs.Lookup(name)
	if f == nil {
		return err
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return fmt.Errorf("%w (--%s is true or false and takes its value after '=': --%s=%s)", err, name, name, fs.Arg(0))
	}
	return err
}
