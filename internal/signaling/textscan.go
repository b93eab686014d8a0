package signaling

// Scans over message text, eight bytes at a time. Relaying a message reads
// its payload three times (decode, validate, encode), and payloads are
// hundreds to thousands of base64 characters, so these loops were a sixth
// of the server's CPU at 38,000 messages per second before they went word
// by word.

const (
	lows  = 0x0101010101010101 // 0x01 in every byte
	highs = 0x8080808080808080 // 0x80 in every byte
)

// zeroBytes is nonzero exactly when some byte of w is zero. Its bits can
// mark the wrong byte when several are zero, but never get "any" wrong.
func zeroBytes(w uint64) uint64 { return (w - lows) &^ w & highs }

// hasSpecialByte reports whether any byte of w would end or complicate a
// plain JSON string: a quote, a backslash, a control character or a byte
// outside ASCII.
func hasSpecialByte(w uint64) bool {
	const (
		quote     = '"' * lows
		backslash = '\\' * lows
		space     = ' ' * lows
	)
	belowSpace := (w - space) &^ w & highs // for bytes < 0x80: byte < 0x20
	return (w&highs)|belowSpace|zeroBytes(w^quote)|zeroBytes(w^backslash) != 0
}

// isSpecial is hasSpecialByte for one byte.
func isSpecial(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }

// plainPrefix returns the length of the longest prefix of b without a
// special byte (see hasSpecialByte).
func plainPrefix[T ~string | ~[]byte](b T) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if hasSpecialByte(load64(b, i)) {
			break
		}
	}
	for ; i < len(b) && !isSpecial(b[i]); i++ {
	}
	return i
}

// load64 reads b[i:i+8] as a little-endian word; the compiler makes it one
// load.
func load64[T ~string | ~[]byte](b T, i int) uint64 {
	w := b[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// base64Alphabet marks the bytes of standard base64 text, padding aside.
var base64Alphabet = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = true
	}
	return t
}()

// allBase64 reports whether every byte of s is in the base64 alphabet.
func allBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		if !base64Alphabet[s[i]] {
			return false
		}
	}
	return true
}
