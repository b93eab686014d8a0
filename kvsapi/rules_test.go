package kvsapi

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseChannelARN(t *testing.T) {
	valid := "arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo-channel/1700000000000"
	got, err := ParseChannelARN("ChannelARN", valid)
	if err != nil {
		t.Fatal(err)
	}
	want := ChannelARN{Partition: "aws", Region: "us-west-2", Account: "111122223333", Name: "demo-channel", CreatedMillis: 1700000000000}
	if got != want || got.String() != valid {
		t.Fatalf("parsed %+v (%s)", got, got.String())
	}
	bad := []string{
		"", "arn", "arn:aws:s3:::bucket", "arn:aws:kinesisvideo:us-west-2:111122223333:stream/demo/1",
		"arn:aws:kinesisvideo:us-west-2:1111x2223333:channel/demo/1", "arn:aws:kinesisvideo:us-west-2:111122223333:channel/de mo/1",
		"arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo/", "arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo/1/2",
		"arn:aws:kinesisvideo:US-WEST-2:111122223333:channel/demo/1", "arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo/99999999999999999999",
		"arn:aws:kinesisvideo:us-west-2:111122223333:channel/" + strings.Repeat("a", 1024) + "/1",
	}
	for _, s := range bad {
		if _, err := ParseChannelARN("ChannelARN", s); !HasCode(err, CodeInvalidArgument) || !strings.Contains(err.Error(), "ChannelARN") {
			t.Errorf("%q: got %v, want InvalidArgumentException naming ChannelARN", s, err)
		}
	}
	if p := NewChannelARN("cn-north-1", "111122223333", "x", time.UnixMilli(5)).String(); p != "arn:aws-cn:kinesisvideo:cn-north-1:111122223333:channel/x/5" {
		t.Fatalf("China partition: %s", p)
	}
}

func TestIdentifierRules(t *testing.T) {
	cases := []struct {
		name  string
		check func() error
		ok    bool
	}{
		{"name plain", func() error { return ValidateChannelName("N", "Cam_1.front-door") }, true},
		{"name 256", func() error { return ValidateChannelName("N", strings.Repeat("a", 256)) }, true},
		{"name 257", func() error { return ValidateChannelName("N", strings.Repeat("a", 257)) }, false},
		{"name empty", func() error { return ValidateChannelName("N", "") }, false},
		{"name space", func() error { return ValidateChannelName("N", "a b") }, false},
		{"name unicode", func() error { return ValidateChannelName("N", "caméra") }, false},
		{"client id", func() error { return ValidateClientID("C", "viewer-1") }, true},
		{"client id reserved", func() error { return ValidateClientID("C", "AWS_DEFAULT_SINGLE_MASTER") }, false},
		{"client id reserved any case", func() error { return ValidateClientID("C", "aws_x") }, false},
		{"client id with AWS inside", func() error { return ValidateClientID("C", "myAWS_x") }, true},
		{"version", func() error { return ValidateVersion("V", "3Ikjs9sOSk6Q4Alisl0d") }, true},
		{"version with dash", func() error { return ValidateVersion("V", "a-b") }, false},
		{"version 65", func() error { return ValidateVersion("V", strings.Repeat("a", 65)) }, false},
		{"token base64", func() error { return ValidateNextToken("T", "c2IxfHx4+/==") }, true},
		{"token bad char", func() error { return ValidateNextToken("T", "a_b") }, false},
		{"ttl 5", func() error { return ValidateMessageTTL("T", 5) }, true},
		{"ttl 120", func() error { return ValidateMessageTTL("T", 120) }, true},
		{"ttl 4", func() error { return ValidateMessageTTL("T", 4) }, false},
		{"ttl 121", func() error { return ValidateMessageTTL("T", 121) }, false},
		{"tag key unicode and symbols", func() error { return ValidateTagKey("K", "Équipe vidéo_.:/=+-@1") }, true},
		{"tag key 128 runes", func() error { return ValidateTagKey("K", strings.Repeat("é", 128)) }, true},
		{"tag key 129 runes", func() error { return ValidateTagKey("K", strings.Repeat("é", 129)) }, false},
		{"tag key reserved", func() error { return ValidateTagKey("K", "AWS:x") }, false},
		{"tag key angle bracket", func() error { return ValidateTagKey("K", "<x>") }, false},
		{"tag value empty", func() error { return ValidateTagValue("V", "") }, true},
		{"tag value 257", func() error { return ValidateTagValue("V", strings.Repeat("v", 257)) }, false},
		{"tag value invalid utf8", func() error { return ValidateTagValue("V", "\xff") }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !HasCode(err, CodeInvalidArgument) {
				t.Fatalf("got %v, want InvalidArgumentException", err)
			}
		})
	}
}

func TestValidateTags(t *testing.T) {
	s := func(v string) *string { return &v }
	tags, err := ValidateTags("Tags", []Tag{{Key: s("a"), Value: s("1")}, {Key: s("a"), Value: s("2")}}, true)
	if err != nil || len(tags) != 1 || tags["a"] != "2" {
		t.Fatalf("duplicate key: %v %v", tags, err)
	}
	if _, err := ValidateTags("Tags", nil, true); !HasCode(err, CodeInvalidArgument) {
		t.Fatalf("empty required list: %v", err)
	}
	if _, err := ValidateTags("Tags", []Tag{{Key: s("a")}}, false); err == nil || !strings.Contains(err.Error(), "Tags[0].Value") {
		t.Fatalf("missing value: %v", err)
	}
	many := make([]Tag, 51)
	for i := range many {
		many[i] = Tag{Key: s(strings.Repeat("k", i+1)), Value: s("")}
	}
	if _, err := ValidateTags("Tags", many, false); !HasCode(err, CodeTagsPerResourceExceededLimit) {
		t.Fatalf("51 tags: %v", err)
	}
}

func TestEpochSeconds(t *testing.T) {
	at := time.UnixMilli(1712136149494).UTC()
	out, err := json.Marshal(EpochSeconds(at))
	if err != nil || string(out) != "1712136149.494" {
		t.Fatalf("marshal: %s %v", out, err)
	}
	for _, in := range []string{"1712136149.494", "1.712136149494E9"} {
		var got EpochSeconds
		if err := json.Unmarshal([]byte(in), &got); err != nil || !got.Time().Equal(at) {
			t.Fatalf("unmarshal %s: %v %v", in, got.Time(), err)
		}
	}
	var got EpochSeconds
	if err := json.Unmarshal([]byte(`"2023-11-14T22:13:20Z"`), &got); err == nil {
		t.Fatal("a string timestamp was accepted")
	}
}

func TestClientMessageAcceptsBothSpellings(t *testing.T) {
	for _, frame := range []string{
		`{"action":"SDP_ANSWER","recipientClientId":"v1","messagePayload":"cA==","correlationId":"c1"}`,
		`{"action":"SDP_ANSWER","RecipientClientId":"v1","MessagePayload":"cA==","CorrelationId":"c1","IceServerList":[{"Uris":["turn:x"]}]}`,
	} {
		var m ClientMessage
		if err := json.Unmarshal([]byte(frame), &m); err != nil || m.RecipientClientID != "v1" || m.MessagePayload != "cA==" || m.CorrelationID != "c1" {
			t.Fatalf("%s: %+v %v", frame, m, err)
		}
	}
	out, _ := json.Marshal(Event{MessageType: ActionSDPAnswer, MessagePayload: "cA=="})
	if string(out) != `{"messageType":"SDP_ANSWER","messagePayload":"cA=="}` {
		t.Fatalf("event to a viewer: %s", out)
	}
}

// namePattern is the rule isName implements, as the API documentation
// writes it.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.\-]+$`)

func TestIsName(t *testing.T) {
	for _, s := range []string{"", "a", "cam-1.front_door", "Z9", "a b", "a\n", "é", "a/b", "a:b", "-", ".", strings.Repeat("x", 300)} {
		if got, want := isName(s), namePattern.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
	for c := range 256 {
		s := string([]byte{byte(c)})
		if got, want := isName(s), namePattern.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

func FuzzIsName(f *testing.F) {
	for _, s := range []string{"", "cam-1", "a b", "\xff", "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isName(s), namePattern.MatchString(s); got != want {
			t.Fatalf("isName(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
