package ice

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// uclientStats matches turnutils_uclient's closing summary.
var (
	uclientSent = regexp.MustCompile(`tot_send_msgs=(\d+)`)
	uclientRecv = regexp.MustCompile(`tot_recv_msgs=(\d+)`)
	uclientLost = regexp.MustCompile(`Total lost packets (\d+)`)
)

// TestTurnutilsUclient drives the embedded server with coturn's
// turnutils_uclient, a TURN client no one here wrote (Debian package
// coturn), on loopback with the loopback allow-list: client-to-client
// relaying over UDP, TCP and TLS.
//
// Its RFC 6062 mode (-T) is left out: pion/turn v5.1 answers
// ConnectionBind without MESSAGE-INTEGRITY, which coturn's client rejects
// ("Wrong integrity"). The TCP relay is covered with pion's client in
// TestAllowListOpensLoopback.
func TestTurnutilsUclient(t *testing.T) {
	bin, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Fatal("turnutils_uclient is not installed: scripts/test.sh installs the Debian package coturn")
	}
	h := startService(t, testConfig(loopbackAllowed))
	addrs := h.svc.Addrs()
	cases := []struct {
		name  string
		port  string
		flags []string
	}{
		{"udp", portOf(addrs.UDP), nil},
		{"tcp", portOf(addrs.TCP), []string{"-t"}},
		{"tls", portOf(addrs.TLS), []string{"-t", "-S"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := h.credentials(t, testARN, "uclient")
			before := h.counter(t, "switchboard_turn_allocations_total")
			args := append([]string{"-y", "-c", "-n", "20", "-l", "200", "-z", "5", "-u", user, "-w", pass, "-p", tc.port,
				"-e", "127.0.0.1", "-X"}, tc.flags...)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, append(args, "127.0.0.1")...).CombinedOutput()
			if err != nil {
				t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, head(out))
			}
			sent, recv, lost := match(uclientSent, out), match(uclientRecv, out), match(uclientLost, out)
			if sent <= 0 || recv != sent || lost != 0 {
				t.Fatalf("sent %d, received %d, lost %d:\n%s", sent, recv, lost, head(out))
			}
			if h.counter(t, "switchboard_turn_allocations_total") <= before {
				t.Fatalf("no allocation counted:\n%s", out)
			}
		})
	}
}

func match(re *regexp.Regexp, out []byte) int {
	m := re.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return -1
	}
	n, _ := strconv.Atoi(string(m[len(m)-1][1]))
	return n
}

// head keeps the start of a long output.
func head(out []byte) []byte {
	if len(out) > 4000 {
		return append(out[:4000:4000], "\n..."...)
	}
	return out
}
