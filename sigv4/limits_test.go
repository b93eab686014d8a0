package sigv4

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// allocatedBy returns how many bytes fn allocates on the heap.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A request as large as net/http lets through (about 1 MiB of request line
// and headers) is refused before the verifier splits it into pieces: the
// error names the limit, and refusing costs next to nothing, whatever the
// client sent.
func TestOversizedInputsRefusedCheaply(t *testing.T) {
	const budget = 64 << 10 // bytes a refusal may allocate
	manyParams := strings.Repeat("a=1&", 200_000)
	tests := []struct {
		name      string
		capture   string
		edit      edit
		presigned bool
		limit     int
	}{
		{"presigned query with many parameters", wsViewer,
			replace("X-Amz-ClientId=viewer-1", "X-Amz-ClientId=viewer-1&"+manyParams), true, maxQueryLen},
		{"presigned query of empty parameters", wsViewer,
			replace("X-Amz-ClientId=viewer-1", "X-Amz-ClientId=viewer-1"+strings.Repeat("&", 700_000)), true, maxQueryLen},
		{"header-signed request with a huge query", cliTokenCapture,
			replace("/describeSignalingChannel ", "/describeSignalingChannel?"+manyParams+" "), false, maxQueryLen},
		{"many signed header names", cliTokenCapture,
			setAuth("AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=" + strings.Repeat("a;", 400_000) + "host, " + goodSig),
			false, maxAuthorizationLen},
		{"credential of many parts", cliTokenCapture,
			setAuth("AWS4-HMAC-SHA256 Credential=" + strings.Repeat("/", 800_000) + ", " + goodSigned + ", " + goodSig),
			false, maxAuthorizationLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := findCapture(t, tt.capture)
			orig, _ := readRequest(t, c.raw)
			r, body := readRequest(t, tt.edit(t, c.raw))
			v := verifierAt(signedDate(t, orig))
			var res *Result
			var err error
			used := allocatedBy(func() { res, err = verifyCapture(t, v, r, body, tt.presigned) })
			if used > budget {
				t.Errorf("refusing allocated %d bytes, want at most %d", used, budget)
			}
			if res != nil || !errors.Is(err, ErrIncompleteSignature) {
				t.Fatalf("err = %v, want ErrIncompleteSignature", err)
			}
			if msg := err.(*Error).Message; !strings.Contains(msg, strconv.Itoa(tt.limit)) {
				t.Errorf("message %q does not name the limit %d", msg, tt.limit)
			}
		})
	}
}

// Inputs just under the limits still verify: a long session token in a
// presigned URL, as STS hands out with session policies, is not refused.
func TestLongSessionTokenWithinLimits(t *testing.T) {
	creds := Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret,
		SessionToken: strings.Repeat("FQoG/ZXIv+YXdz=", 8<<10/15)}
	signed, err := PresignURL(wsURL(t, "viewer-1"), creds, testRegion, testService, testNow, 299e9)
	if err != nil {
		t.Fatal(err)
	}
	if len(signed.RawQuery) > maxQueryLen {
		t.Fatalf("test URL is too long for the limit: %d bytes", len(signed.RawQuery))
	}
	if _, err := verifierAt(testNow).VerifyPresigned(upgradeRequest(t, signed)); err != nil {
		t.Fatalf("verify: %v", err)
	}
}
