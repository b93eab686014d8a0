package ice

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // checking the TURN REST scheme
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// testKeyStart is a key period's start (a day boundary).
const testKeyStart = 1_899_936_000

func TestCredentialRoundTrip(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	expiry := time.Unix(1_900_000_000, 0)
	username := mintUsername(expiry, testKeyStart, newScope(testAccount, testARN, "viewer-1"))
	password := turnPassword(secret, username)

	cred, err := parseUsername(username)
	if err != nil {
		t.Fatal(err)
	}
	if !cred.Expiry.Equal(expiry) || cred.KeyStart != testKeyStart || cred.Scope.Account != testAccount ||
		cred.Scope.Client != "viewer-1" || cred.Scope.ChannelKey != channelKey(testARN) {
		t.Fatalf("parsed %+v", cred)
	}
	if !checkPassword(secret, username, password) {
		t.Fatal("own password refused")
	}
	// The scheme is coturn's: base64(HMAC-SHA1(secret, username)).
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); password != want {
		t.Fatalf("password %q, want %q", password, want)
	}
	// pion's own TURN REST helper agrees.
	_, pionPassword, err := turn.GenerateLongTermTURNRESTCredentials(string(secret), "x", time.Minute)
	if err != nil || len(pionPassword) != len(password) {
		t.Fatalf("pion helper: %v %q", err, pionPassword)
	}
}

func TestCredentialRefusals(t *testing.T) {
	secret := []byte("server secret")
	expiry := time.Unix(1_900_000_000, 0)
	username := mintUsername(expiry, testKeyStart, newScope(testAccount, testARN, "viewer-1"))
	password := turnPassword(secret, username)
	otherChannel := mintUsername(expiry, testKeyStart, newScope(testAccount, otherARN, "viewer-1"))
	otherClient := mintUsername(expiry, testKeyStart, newScope(testAccount, testARN, "viewer-2"))
	otherAccount := mintUsername(expiry, testKeyStart, newScope("444455556666", testARN, "viewer-1"))
	later := mintUsername(expiry.Add(time.Hour), testKeyStart, newScope(testAccount, testARN, "viewer-1"))
	otherKey := mintUsername(expiry, testKeyStart+86400, newScope(testAccount, testARN, "viewer-1"))
	tampered := []byte(password)
	tampered[3] ^= 1

	cases := []struct {
		name, username, password string
		secret                   []byte
	}{
		{"tampered password", username, string(tampered), secret},
		{"another channel with this password", otherChannel, password, secret},
		{"another client with this password", otherClient, password, secret},
		{"another account with this password", otherAccount, password, secret},
		{"a later expiry with this password", later, password, secret},
		{"another key period with this password", otherKey, password, secret},
		{"another server's secret", username, password, []byte("other secret")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if checkPassword(tc.secret, tc.username, tc.password) {
				t.Fatal("accepted")
			}
		})
	}
}

func TestUsernameShape(t *testing.T) {
	longARN := "arn:aws:kinesisvideo:us-west-2:111122223333:channel/" + strings.Repeat("n", 256) + "/1700000000000"
	longARN += strings.Repeat("x", 1024-len(longARN))
	cases := []struct{ name, account, arn, client string }{
		{"typical", testAccount, testARN, "ProducerMaster"},
		{"no client id", testAccount, testARN, ""},
		{"1024-character ARN and 256-character client id", testAccount, longARN, strings.Repeat("c", 256)},
		{"client id with odd characters", testAccount, testARN, "a/b:c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScope(tc.account, tc.arn, tc.client)
			username := mintUsername(time.Unix(1_900_000_000, 0), testKeyStart, s)
			if len(username) > 256 || strings.Count(username, ":") != 1 || strings.ContainsAny(username, "/+= ") {
				t.Fatalf("username %q (%d chars)", username, len(username))
			}
			cred, err := parseUsername(username)
			if err != nil || cred.Scope != s {
				t.Fatalf("parse: %v %+v", err, cred)
			}
		})
	}
	// Layout v1 (an external server's credentials, and ours from before
	// keys rotated) still parses, without a key period.
	v1, err := parseUsername(mintUsername(time.Unix(1_900_000_000, 0), 0, newScope(testAccount, testARN, "c")))
	if err != nil || v1.KeyStart != 0 || v1.Scope != newScope(testAccount, testARN, "c") {
		t.Fatalf("layout v1: %v %+v", err, v1)
	}
	if newScope(testAccount, testARN, "").Client != "" || newScope(testAccount, testARN, "a/b").Client[0] != '#' {
		t.Fatal("client part not kept or hashed as expected")
	}
}

func TestParseUsernameRejectsForeignShapes(t *testing.T) {
	good := mintUsername(time.Unix(1_900_000_000, 0), testKeyStart, newScope(testAccount, testARN, "v"))
	_, part, _ := strings.Cut(good, ":")
	key := channelKey(testARN)
	userPart := func(text string) string { return "1900000000:" + base64.RawURLEncoding.EncodeToString([]byte(text)) }
	for _, u := range []string{
		"", "plainuser", "1900000000", "notatime:" + part, "-5:" + part, "+1900000000:" + part,
		"1900000000:!!!", userPart("v2/a/b/c"), userPart("v1/acct/short/c"),
		userPart("v2/0/acct/" + key + "/c"), userPart("v2/-86400/acct/" + key + "/c"),
		userPart("v2/01/acct/" + key + "/c"), userPart("v2/+86400/acct/" + key + "/c"),
		userPart("v2/day/acct/" + key + "/c"), userPart("v1/86400/acct/" + key + "/c"),
		userPart("v3/86400/acct/" + key + "/c"),
		"1900000000:" + strings.Repeat("A", 300),
	} {
		if _, err := parseUsername(u); err == nil {
			t.Errorf("parseUsername(%q) accepted", u)
		}
	}
}

func FuzzParseUsername(f *testing.F) {
	f.Add(mintUsername(time.Unix(1_900_000_000, 0), testKeyStart, newScope(testAccount, testARN, "viewer")))
	f.Add(mintUsername(time.Unix(1_900_000_000, 0), 0, newScope(testAccount, testARN, "viewer")))
	f.Add("1:")
	f.Add("1900000000:djE")
	f.Fuzz(func(t *testing.T, username string) {
		cred, err := parseUsername(username)
		if err != nil {
			return
		}
		if cred.Username != username || len(username) > maxUsernameLen || cred.Expiry.Unix() <= 0 {
			t.Fatalf("accepted %q as %+v", username, cred)
		}
	})
}
