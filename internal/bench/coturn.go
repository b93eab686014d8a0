package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST credential scheme is HMAC-SHA1
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// ErrNoCoturn means Debian's coturn (turnserver) is not installed;
// scripts/test.sh installs it (apt-get install coturn).
var ErrNoCoturn = errors.New("bench: coturn's turnserver is not installed (apt-get install -y coturn; scripts/test.sh does it)")

// coturnPath finds turnserver.
func coturnPath() (string, error) {
	for _, p := range []string{"turnserver", "/usr/bin/turnserver", "/usr/local/bin/turnserver"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", ErrNoCoturn
}

// coturnProc is a running coturn on loopback.
type coturnProc struct {
	*child
	addr   *net.UDPAddr
	secret string
	realm  string
}

// startCoturn runs turnserver on a free loopback port with the settings of
// the embedded relay in this scenario: UDP only, shared-secret (TURN REST)
// credentials, loopback peers allowed, no bandwidth or quota caps, relay
// ports from portMin to portMax, one relay thread per CPU (its default, as
// the embedded server has one UDP listener per CPU).
func startCoturn(ctx context.Context, dir string, portMin, portMax int) (*coturnProc, error) {
	path, err := coturnPath()
	if err != nil {
		return nil, err
	}
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	secret := randomText(32, mixedAlnum)
	args := []string{"-n", "--listening-ip=127.0.0.1", "--listening-port=" + strconv.Itoa(port),
		"--relay-ip=127.0.0.1", "--min-port=" + strconv.Itoa(portMin), "--max-port=" + strconv.Itoa(portMax),
		"--use-auth-secret", "--static-auth-secret=" + secret, "--realm=switchboard",
		"--no-tls", "--no-dtls", "--no-tcp", "--no-tcp-relay", "--no-cli", "--no-multicast-peers",
		"--allow-loopback-peers", "--allowed-peer-ip=127.0.0.1", "--fingerprint",
		"--max-bps=0", "--bps-capacity=0", "--user-quota=0", "--total-quota=0",
		"--pidfile=" + filepath.Join(dir, "turnserver.pid"), "--userdb=" + filepath.Join(dir, "turndb"),
		"--log-file=stdout", "--simple-log", "--no-stun-backward-compatibility"}
	c, _, err := startChild(ctx, childSpec{name: "coturn", path: path, args: args, dir: dir,
		ready: regexp.MustCompile(`Total (UDP|General) servers`), wait: 20 * time.Second})
	if err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond) // its listener threads start after the log line
	return &coturnProc{child: c, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, secret: secret, realm: "switchboard"}, nil
}

// credentials mints a TURN REST credential for coturn's shared secret.
func (c *coturnProc) credentials(user string, ttl time.Duration) (string, string) {
	name := fmt.Sprintf("%d:%s", time.Now().Add(ttl).Unix(), user)
	mac := hmac.New(sha1.New, []byte(c.secret))
	mac.Write([]byte(name))
	return name, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// freeUDPPort asks the system for a free loopback UDP port.
func freeUDPPort() (int, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).Port, nil //nolint:forcetypeassert // UDP
}
