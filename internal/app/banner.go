package app

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/switchboard-rtc/switchboard/internal/config"
	"github.com/switchboard-rtc/switchboard/internal/devtls"
)

type bannerInfo struct {
	addr       net.Addr
	publicHost string
	keys       config.Keys
	generated  bool
	bundle     *devtls.Bundle
}

// printBanner tells a person where the server is and how to reach it with
// the AWS CLI: a copy-paste example that works as printed. A secret the
// operator configured is never printed (standard output often ends up in
// collected logs); the server's own generated secret is, since printing it
// is how a new user learns it.
func (a *App) printBanner(b bannerInfo) {
	configured := a.cfg.Credentials.AccessKeyID != ""
	secret := b.keys.SecretAccessKey
	if configured {
		secret = "(as configured; not printed)"
	}
	var s strings.Builder
	endpoint := "https://" + b.publicHost
	fmt.Fprintf(&s, "Switchboard is serving the KVS signaling API on %s (listening on %s)\n", endpoint, b.addr)
	fmt.Fprintf(&s, "  region:  %s\n  account: %s\n", a.cfg.Server.Region, a.cfg.Server.AccountID)
	if a.cfg.Console.Enabled {
		fmt.Fprintf(&s, "  console: %s/console/\n", endpoint)
	}
	secretNote := ""
	if b.generated {
		secretNote = "  (generated now and kept in " + filepath.Join(a.cfg.Server.DataDir, credentialsFile) + ")"
	}
	fmt.Fprintf(&s, "  access key id:     %s\n  secret access key: %s%s\n", b.keys.AccessKeyID, secret, secretNote)
	caEnv := ""
	if b.bundle != nil {
		fmt.Fprintf(&s, "\nTLS uses a development CA: %s\n", b.bundle.CAFile)
		fmt.Fprintf(&s, "  AWS CLI and SDKs: export AWS_CA_BUNDLE=%s\n", b.bundle.CAFile)
		fmt.Fprintf(&s, "  curl: --cacert %s    browsers: import it as a trusted authority\n", b.bundle.CAFile)
		caEnv = "AWS_CA_BUNDLE=" + b.bundle.CAFile + " "
	}
	fmt.Fprintf(&s, "\nTry it:\n  %sAWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s \\\n    aws kinesisvideo create-signaling-channel --channel-name demo --endpoint-url %s --region %s\n",
		caEnv, b.keys.AccessKeyID, exampleSecret(configured, b.keys.SecretAccessKey), endpoint, a.cfg.Server.Region)
	fmt.Fprintf(&s, "\nswitchboard master, switchboard viewer and the Go SDK read the endpoint and region from:\n  export AWS_ENDPOINT_URL=%s AWS_REGION=%s\n",
		endpoint, a.cfg.Server.Region)
	fmt.Fprint(a.stdout, s.String())
}

// exampleSecret is the secret the banner's example command carries: the
// real one when the server generated it, a placeholder for the
// operator's own.
func exampleSecret(configured bool, secret string) string {
	if configured {
		return "YOUR_SECRET_ACCESS_KEY"
	}
	return secret
}
