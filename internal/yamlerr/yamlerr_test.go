package yamlerr

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// twoValues has a field whose decoder fails and one after it.
type twoValues struct {
	Bad  picky  `yaml:"bad"`
	Good string `yaml:"good"`
}

type picky struct{}

func (*picky) UnmarshalYAML(n *yaml.Node) error {
	return Scalar(n, "a picky value", func(string) error { return errors.New("never good enough") })
}

// TestDecodingGoesOn: a value refused through Scalar is reported with its
// line, and yaml.v3 still decodes the rest of the document.
func TestDecodingGoesOn(t *testing.T) {
	var v twoValues
	err := yaml.Unmarshal([]byte("bad: x\ngood: kept\n"), &v)
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) != 1 || !strings.HasPrefix(te.Errors[0], "line 1: never good enough") {
		t.Fatalf("error = %v, want one type error on line 1", err)
	}
	if v.Good != "kept" {
		t.Errorf("the value after the refused one was not decoded: %+v", v)
	}
	err = yaml.Unmarshal([]byte("bad: [1, 2]\n"), &v)
	if !errors.As(err, &te) || !strings.Contains(te.Errors[0], "a picky value must be a single value") {
		t.Errorf("a list refused as %v", err)
	}
}
