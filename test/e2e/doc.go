// Package e2e holds black-box tests: they build the real switchboard
// binary, start it on free loopback ports with its own data directory, and
// drive it with clients no one here wrote (the AWS SDK for Go v2, the AWS
// CLI, pion) or with our public SDK. Nothing in these tests reaches into
// the server's internal packages; they use only two test helpers,
// internal/testbin (to build the binary) and internal/ice/icetest (peers
// that may connect only through a TURN relay).
package e2e
