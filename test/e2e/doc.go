// Package e2e holds black-box tests: they build the real switchboard
// binary, start it on free loopback ports with its own data directory, and
// drive it with clients no one here wrote (the AWS SDK for Go v2) or with
// our public SDK. Nothing in these tests reaches into internal packages.
package e2e
