package sigv4

import (
	"testing"
)

// Verification cost per request, with the signing key cached as in a busy
// server: go test -run=^$ -bench=. -benchmem ./sigv4/
func BenchmarkVerifyRequest(b *testing.B) {
	r, body := readRequest(b, findCapture(b, jsDescribe).raw)
	v := verifierAt(signedDate(b, r))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyRequest(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPresigned(b *testing.B) {
	r, _ := readRequest(b, findCapture(b, wsViewer).raw)
	v := verifierAt(signedDate(b, r))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyPresigned(r); err != nil {
			b.Fatal(err)
		}
	}
}
