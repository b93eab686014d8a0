package config

import (
	"strings"
	"testing"
)

// TestFileDurationErrorsNameTheirKey: a duration in the file that is not
// a Go duration (a bare number, the usual slip) is refused with its key
// or at least its line, as every other problem of the file is.
func TestFileDurationErrorsNameTheirKey(t *testing.T) {
	for _, tc := range []struct{ key, file string }{
		{"server.shutdown_timeout", "server:\n  shutdown_timeout: 30\n"},
		{"turn.credential_ttl", "turn:\n  credential_ttl: 300\n"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			path := writeFile(t, tc.file)
			_, err := Load("test", Source{Args: []string{"--config", path}, Env: env(nil)})
			if err == nil {
				t.Fatal("a bare number accepted as a duration")
			}
			// The file's path holds the test's name; leave it out.
			msg := strings.ReplaceAll(err.Error(), path, "FILE")
			leaf := tc.key[strings.LastIndex(tc.key, ".")+1:]
			if !strings.Contains(msg, leaf) && !strings.Contains(msg, "line 2") {
				t.Errorf("the error names neither %s nor its line:\n%s", tc.key, msg)
			}
		})
	}
}

// TestFileDurationErrorHidesNoOtherProblem: check-config reports every
// problem at once; a duration in the file that does not parse must not
// stop the file's other problems (an unknown key, a bad value) from
// being reported with it.
func TestFileDurationErrorHidesNoOtherProblem(t *testing.T) {
	for name, file := range map[string]string{
		"server.shutdown_timeout": "server:\n  shutdown_timeout: 30\nlog:\n  format: xml\n  levle: debug\n",
		"signaling.idle_timeout":  "signaling:\n  idle_timeout: 10\nlog:\n  format: xml\n  levle: debug\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load("test", Source{Args: []string{"--config", writeFile(t, file)}, Env: env(nil)})
			if err == nil {
				t.Fatal("invalid file accepted")
			}
			for _, want := range []string{"levle", "log.format"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("problems do not mention %s:\n%v", want, err)
				}
			}
		})
	}
}

// TestListenAddressPortIsChecked: check-config promises that a
// configuration it accepts can be served; a listen port outside 0..65535
// is only found out by serve, whose error names no setting.
func TestListenAddressPortIsChecked(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:99999", ":65536", ":-1"} {
		cfg := Default()
		cfg.Server.Addr = addr
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "server.addr") {
			t.Errorf("server.addr %q accepted (%v)", addr, err)
		}
	}
}

// TestFileWithSeveralDocumentsIsRefused: the server reads one YAML
// document. A file with a second one ("---" and more settings, as when
// two files are pasted together) must be refused with the line where the
// extra document starts, not have its settings silently dropped.
func TestFileWithSeveralDocumentsIsRefused(t *testing.T) {
	file := "server:\n  region: eu-west-1\n---\nserver:\n  region: eu-west-2\n"
	path := writeFile(t, file)
	_, err := Load("test", Source{Args: []string{"--config", path}, Env: env(nil)})
	if err == nil {
		t.Fatal("a file with two YAML documents was accepted; the second one is ignored")
	}
	for _, want := range []string{path, "line 3", "one YAML document"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	// A lone document marker, at the start or at the end, is still one document.
	for _, ok := range []string{"---\nserver:\n  region: eu-west-1\n", "server:\n  region: eu-west-1\n---\n", "server:\n  region: eu-west-1\n...\n"} {
		if _, err := Load("test", Source{Args: []string{"--config", writeFile(t, ok)}, Env: env(nil)}); err != nil {
			t.Errorf("one document refused:\n%s\n%v", ok, err)
		}
	}
}

// TestControlPlaneEntryErrorHidesNoOtherProblem: an unknown key in a
// control_plane.operations entry is reported with the file's other
// problems, those of the same entry and of the keys after it included,
// rather than ending the decoding of the file.
func TestControlPlaneEntryErrorHidesNoOtherProblem(t *testing.T) {
	file := "control_plane:\n  operations:\n    TagResource:\n      burst: 5\n      channel_burst: -1\n" +
		"    UntagResource: 5\n    ListTagsForResource:\n      account_burst: many\nconsole:\n  dev_login: maybe\n"
	_, err := Load("test", Source{Args: []string{"--config", writeFile(t, file)}, Env: env(nil)})
	if err == nil {
		t.Fatal("invalid file accepted")
	}
	for _, want := range []string{
		`control_plane.operations.TagResource: line 4: unknown key "burst"`,
		"control_plane.operations.TagResource.channel_burst: must be 0",
		"control_plane.operations.UntagResource: line 6: must be a mapping",
		"control_plane.operations.ListTagsForResource: line 8:",
		"console.dev_login: must be auto, on or off",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not say %q:\n%v", want, err)
		}
	}
}
