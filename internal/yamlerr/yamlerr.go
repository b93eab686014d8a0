// Package yamlerr reports a bad value in the configuration file in the
// form that lets decoding go on. gopkg.in/yaml.v3 stops at the first plain
// error that a custom decoder (UnmarshalYAML, UnmarshalText) returns, so
// the file's later problems, and its later values, would go unseen; a
// *yaml.TypeError it records instead, and carries on.
package yamlerr

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// At returns a *yaml.TypeError for the value at n, its message prefixed
// with n's line like yaml.v3's own.
func At(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, args...)}}
}

// Scalar checks that n is a single value and passes it to parse; a
// failure is reported with At.
func Scalar(n *yaml.Node, what string, parse func(string) error) error {
	if n.Kind != yaml.ScalarNode {
		return At(n, "%s must be a single value", what)
	}
	if err := parse(n.Value); err != nil {
		return At(n, "%v", err)
	}
	return nil
}
