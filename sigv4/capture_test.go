package sigv4

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The capture files in testdata/captures are copies of spec/captures: raw
// requests recorded from the AWS CLI, the AWS SDKs for JavaScript v3 and Go
// v2, and the KVS WebRTC JavaScript SDK, all signed with these values.
const (
	testAccessKey = "AKIAIOSFODNN7EXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testToken     = "FQoGZXIvYXdzEXAMPLESESSIONTOKEN"
	testRegion    = "us-west-2"
	testService   = "kinesisvideo"
)

// capture is one recorded request.
type capture struct {
	name string // file and position, for test names
	raw  string // the request as recorded, with LF line ends
}

// presigned reports whether the capture is a query-signed request.
func (c capture) presigned() bool { return strings.Contains(c.raw, "X-Amz-Signature=") }

// Lines that open a request block in the capture files:
//
//	---- request 1 (exactly as received) ----   (CLI files; request line follows)
//	---- POST /path HTTP/1.1                    (SDK files; the line is the request line)
//	=== WebSocket upgrade from viewer           (WebSocket file; request line follows)
//
// Any other line starting with "---- ", "=== " or "########" closes a block.
var (
	blockWithLine  = regexp.MustCompile(`^---- ([A-Z]+ \S+ HTTP/1\.1)$`)
	blockFollowing = regexp.MustCompile(`^(---- request \d+ \(exactly as received\) ----|=== WebSocket upgrade from \S+)$`)
	blockEnd       = regexp.MustCompile(`^(---- |=== |########)`)
)

// splitCaptures returns the request blocks of one capture file.
func splitCaptures(file, text string) []capture {
	var out []capture
	var cur []string
	open := false
	flush := func() {
		if open {
			out = append(out, capture{
				name: fmt.Sprintf("%s#%d", strings.TrimSuffix(file, ".txt"), len(out)+1),
				raw:  strings.Join(cur, "\n") + "\n",
			})
		}
		open, cur = false, nil
	}
	for line := range strings.SplitSeq(text, "\n") {
		switch m := blockWithLine.FindStringSubmatch(line); {
		case m != nil:
			flush()
			open, cur = true, []string{m[1]}
		case blockFollowing.MatchString(line):
			flush()
			open = true
		case blockEnd.MatchString(line):
			flush()
		case open:
			cur = append(cur, line)
		}
	}
	flush()
	return out
}

// captureCache holds the parsed capture files, read once per test binary.
var captureCache struct {
	sync.Mutex
	all []capture
}

// loadCaptures returns every request block of the files in testdata/captures.
func loadCaptures(t testing.TB) []capture {
	t.Helper()
	captureCache.Lock()
	defer captureCache.Unlock()
	if captureCache.all == nil {
		captureCache.all = readCaptureFiles(t)
	}
	return captureCache.all
}

// readCaptureFiles reads and splits every capture file.
func readCaptureFiles(t testing.TB) []capture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "captures", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture files: %v", err)
	}
	var all []capture
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, splitCaptures(filepath.Base(f), string(text))...)
	}
	return all
}

// readRequest parses raw HTTP text the way the server would and returns the
// request with its body read. It fails the test if the text holds anything
// beyond the request (so a block is never silently cut short).
func readRequest(t testing.TB, raw string) (*http.Request, []byte) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw + "\n"))
	r, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("parse request: %v\n%s", err, raw)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if rest, _ := io.ReadAll(br); strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("unparsed text after the request: %q", rest)
	}
	return r, body
}

// signedDate returns the X-Amz-Date of a request, from the header or query.
func signedDate(t testing.TB, r *http.Request) time.Time {
	t.Helper()
	v := r.Header.Get("X-Amz-Date")
	if v == "" {
		v = r.URL.Query().Get("X-Amz-Date")
	}
	d, err := time.Parse(amzDateLayout, v)
	if err != nil {
		t.Fatalf("request has no usable X-Amz-Date: %q", v)
	}
	return d
}

// testLookup knows the documentation example key only.
func testLookup(_ context.Context, id string) (string, error) {
	if id == testAccessKey {
		return testSecret, nil
	}
	return "", fmt.Errorf("access key %q: %w", id, ErrUnknownAccessKey)
}

// verifierAt returns the verifier the captures were recorded for, with its
// clock fixed at now.
func verifierAt(now time.Time) *Verifier {
	return &Verifier{
		Service: testService,
		Region:  testRegion,
		Lookup:  testLookup,
		Now:     func() time.Time { return now },
	}
}

// verifyCapture verifies a recorded request with the clock at its own date.
func verifyCapture(t testing.TB, v *Verifier, r *http.Request, body []byte, presigned bool) (*Result, error) {
	t.Helper()
	if presigned {
		return v.VerifyPresigned(r)
	}
	return v.VerifyRequest(r, body)
}

// wantCaptures is how many request blocks the capture files hold: 20 from the
// AWS CLI (13 files, ListSignalingChannels-paginated has two requests), 3 from
// the AWS SDK for JavaScript v3, 1 from the AWS SDK for Go v2 and 2
// presigned WebSocket upgrades from the KVS WebRTC JavaScript SDK.
const (
	wantCaptures          = 26
	wantPresignedCaptures = 2
)

func TestCapturesVerify(t *testing.T) {
	captures := loadCaptures(t)
	presigned := 0
	for _, c := range captures {
		t.Run(c.name, func(t *testing.T) {
			r, body := readRequest(t, c.raw)
			now := signedDate(t, r)
			res, err := verifyCapture(t, verifierAt(now), r, body, c.presigned())
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if res.AccessKeyID != testAccessKey || res.Region != testRegion || res.Service != testService {
				t.Errorf("result identity = %+v", res)
			}
			if !res.SignedAt.Equal(now) {
				t.Errorf("SignedAt = %v, want %v", res.SignedAt, now)
			}
			wantToken := ""
			if strings.Contains(c.raw, testToken) {
				wantToken = testToken
			}
			if res.SessionToken != wantToken {
				t.Errorf("SessionToken = %q, want %q", res.SessionToken, wantToken)
			}
		})
		if c.presigned() {
			presigned++
		}
	}
	if len(captures) != wantCaptures || presigned != wantPresignedCaptures {
		t.Fatalf("found %d captured requests (%d presigned), want %d (%d presigned)",
			len(captures), presigned, wantCaptures, wantPresignedCaptures)
	}
}

// findCapture returns the capture whose raw text contains all the markers.
func findCapture(t testing.TB, markers ...string) capture {
	t.Helper()
	for _, c := range loadCaptures(t) {
		found := true
		for _, m := range markers {
			found = found && strings.Contains(c.raw, m)
		}
		if found {
			return c
		}
	}
	t.Fatalf("no capture contains %q", markers)
	return capture{}
}

// The two worked examples of spec section 7.7.
func TestWorkedExamples(t *testing.T) {
	tests := []struct {
		name, marker, canonical, canonicalHash, signature string
	}{
		{
			name:   "cli describe with session token",
			marker: "Signature=411749179b2c6326feaf581de83022b915f34626f0cc90fb8a7fdb7045b570e6",
			canonical: "POST\n/describeSignalingChannel\n\n" +
				"content-type:application/json\nhost:127.0.0.1:18080\nx-amz-date:20261121T210638Z\n" +
				"x-amz-security-token:FQoGZXIvYXdzEXAMPLESESSIONTOKEN\n\n" +
				"content-type;host;x-amz-date;x-amz-security-token\n" +
				"29ac69e1f977354ac8a3d25293919c93a7cc824cf7bcfe0eec210b21aa08a8e0",
			canonicalHash: "087cd984820b5b0ff198aa4d262ec1792e5b0c8e8505d84f211fe8202c29a974",
			signature:     "411749179b2c6326feaf581de83022b915f34626f0cc90fb8a7fdb7045b570e6",
		},
		{
			name:   "js websocket viewer",
			marker: "X-Amz-Signature=f2a2f29b34b2e25a8bc0538b574c77221e4818b3d364e3ec74e062c062d3272f",
			canonical: "GET\n/\n" +
				"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo%3Aus-west-2%3A111122223333%3Achannel%2Fdemo-channel%2F1700000000000&X-Amz-ClientId=viewer-1&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261121%2Fus-west-2%2Fkinesisvideo%2Faws4_request&X-Amz-Date=20261121T210822Z&X-Amz-Expires=299&X-Amz-SignedHeaders=host\n" +
				"host:127.0.0.1:18443\n\nhost\n" + EmptyPayloadHash,
			canonicalHash: "4d8226f54208447405b351bb13720a586340e60c25bfec845e3d3b6c93488419",
			signature:     "f2a2f29b34b2e25a8bc0538b574c77221e4818b3d364e3ec74e062c062d3272f",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := readRequest(t, findCapture(t, tt.marker).raw)
			got := canonicalOf(t, r, body)
			if got != tt.canonical {
				t.Fatalf("canonical request:\n%s\nwant:\n%s", got, tt.canonical)
			}
			if h := hashHex([]byte(got)); h != tt.canonicalHash {
				t.Errorf("canonical hash = %s, want %s", h, tt.canonicalHash)
			}
			date := signedDate(t, r)
			scope := credentialScope(date.Format(scopeDateLayout), testRegion, testService)
			sig := signature(testSecret, date.Format(scopeDateLayout), testRegion, testService,
				stringToSign(date.Format(amzDateLayout), scope, got))
			if sig != tt.signature {
				t.Errorf("signature = %s, want %s", sig, tt.signature)
			}
		})
	}
}

// canonicalOf rebuilds the canonical request of a recorded request with the
// package's own helpers.
func canonicalOf(t *testing.T, r *http.Request, body []byte) string {
	t.Helper()
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		a, ferr := parseAuthorization(auth)
		if ferr != nil {
			t.Fatal(ferr)
		}
		return canonicalRequest(r.Method, canonicalURI(requestPath(r)), canonicalQuery(params),
			canonicalHeaders(r, a.signedHeaders, cleanValue), a.signedRaw, hashHex(body))
	}
	c, _, ferr := presignClaim(params)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return canonicalRequest(r.Method, canonicalURI(requestPath(r)), canonicalQuery(params, paramSignature),
		canonicalHeaders(r, c.signedHeaders, cleanValue), c.signedRaw, EmptyPayloadHash)
}
