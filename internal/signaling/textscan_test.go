package signaling

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// plainPrefixByBytes is the byte-at-a-time definition plainPrefix must
// match.
func plainPrefixByBytes(b []byte) int {
	for i, c := range b {
		if isSpecial(c) {
			return i
		}
	}
	return len(b)
}

func TestPlainPrefixFindsEveryByteValueAtEveryPosition(t *testing.T) {
	for length := 0; length <= 24; length++ {
		for pos := 0; pos < length; pos++ {
			for c := range 256 {
				b := bytes.Repeat([]byte{'a'}, length)
				b[pos] = byte(c)
				want := plainPrefixByBytes(b)
				if got := plainPrefix(b); got != want {
					t.Fatalf("plainPrefix(%q) = %d, want %d", b, got, want)
				}
				if got := plainPrefix(string(b)); got != want {
					t.Fatalf("plainPrefix(string %q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

func TestPlainPrefixOnRandomText(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			// Mostly printable ASCII, sometimes anything: runs of
			// special bytes side by side test the borrow between bytes.
			if rng.IntN(8) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = byte(0x20 + rng.IntN(0x60))
			}
		}
		if got, want := plainPrefix(b), plainPrefixByBytes(b); got != want {
			t.Fatalf("plainPrefix(%q) = %d, want %d", b, got, want)
		}
	}
}

func TestAllBase64MatchesTheAlphabet(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for c := range 256 {
		want := strings.IndexByte(alphabet, byte(c)) >= 0
		if got := allBase64("QUJD" + string([]byte{byte(c)}) + "REVG"); got != want {
			t.Fatalf("allBase64 with byte %#x = %v, want %v", c, got, want)
		}
	}
	if !allBase64("") {
		t.Fatal("allBase64 of nothing is false")
	}
}

// BenchmarkPlainPrefix compares the word-at-a-time scan with the byte loop
// it replaced, on an SDP-sized base64 payload.
func BenchmarkPlainPrefix(b *testing.B) {
	payload := []byte(strings.Repeat(offerPayload, 40)[:3000])
	b.Run("words", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if plainPrefix(payload) != len(payload) {
				b.Fatal("stopped early")
			}
		}
	})
	b.Run("bytes", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if plainPrefixByBytes(payload) != len(payload) {
				b.Fatal("stopped early")
			}
		}
	})
}
