package controlplane

import (
	"context"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// stunFixture returns one fixed ICE entry.
type stunFixture struct{}

func (stunFixture) AdmitCall(string, string) error { return nil }

func (stunFixture) IceServers(context.Context, auth.Principal, store.Channel, string) ([]kvsapi.IceServer, error) {
	return []kvsapi.IceServer{{Uris: []string{"stun:localhost:3478"}, Username: "u", Password: "p", Ttl: 300}}, nil
}
