package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	awsv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Signers disagree on the whitespace inside a signed header value. The AWS
// SDK for Go v2 trims the ends and collapses runs of spaces only, so a tab
// stays a tab; botocore (the AWS CLI) and the AWS SDK for JavaScript v3 turn
// every run of whitespace, tabs included, into one space. The requests below
// were signed by those signers with the documentation example key, at
// 20261121T210638Z, for a header holding "tab<TAB>here  and<TAB> two".
var whitespaceRecorded = []struct{ name, raw string }{
	{"botocore 1.43.11", "POST /describeSignalingChannel HTTP/1.1\r\n" +
		"Host: 127.0.0.1:18080\r\n" +
		"Content-Type: application/json\r\n" +
		"X-Amz-Meta-Note: tab\there  and\t two\r\n" +
		"X-Amz-Date: 20261121T210638Z\r\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-west-2/kinesisvideo/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date;x-amz-meta-note, " +
		"Signature=43de3feda723e8852317b784b7ea3e1e046580656d5093fab8952c65d8362d80\r\n" +
		"Content-Length: 30\r\n\r\n" +
		`{"ChannelName":"demo-channel"}`},
	{"@smithy/signature-v4 5.7.5 (AWS SDK for JavaScript v3)", "POST /describeSignalingChannel HTTP/1.1\r\n" +
		"host: 127.0.0.1:18080\r\n" +
		"content-type: application/json\r\n" +
		"x-amz-meta-note: tab\there  and\t two\r\n" +
		"x-amz-date: 20261121T210638Z\r\n" +
		"x-amz-content-sha256: b402d966e0764d1d8527f462a7af9d32f0d81a6deee2ccc29a7c68a04fe74549\r\n" +
		"authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-west-2/kinesisvideo/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-note, " +
		"Signature=bb54640fb09c32d1d562f2c3763ed19093fdd263a7efe6d994c523c7c5ed4d8d\r\n" +
		"content-length: 30\r\n\r\n" +
		`{"ChannelName":"demo-channel"}`},
}

func TestVerifyTabsAsRealSignersSignThem(t *testing.T) {
	for _, tt := range whitespaceRecorded {
		t.Run(tt.name, func(t *testing.T) {
			r, body := readRequest(t, tt.raw)
			if _, err := verifierAt(testNow).VerifyRequest(r, body); err != nil {
				t.Fatalf("verify: %v\n%s", err, canonicalDebug(err))
			}
		})
	}
	t.Run("AWS SDK for Go v2", func(t *testing.T) {
		body := []byte(`{"ChannelName":"demo-channel"}`)
		r := newPost(t, "http://127.0.0.1:18080/describeSignalingChannel", string(body))
		r.Header.Set("X-Amz-Meta-Note", "tab\there  and\t two")
		err := awsv4.NewSigner().SignHTTP(context.Background(), awsCreds(longTermCreds), r, hashHex(body),
			testService, testRegion, testNow)
		if err != nil {
			t.Fatal(err)
		}
		got, gotBody := overTheWire(t, r)
		if _, err := verifierAt(testNow).VerifyRequest(got, gotBody); err != nil {
			t.Fatalf("verify: %v\n%s", err, canonicalDebug(err))
		}
	})
	t.Run("tampered value", func(t *testing.T) {
		// Whitespace is all the leeway there is: other changes still fail.
		r, body := readRequest(t, replace("tab\there", "tab\tHere")(t, whitespaceRecorded[0].raw))
		if _, err := verifierAt(testNow).VerifyRequest(r, body); err == nil {
			t.Fatal("a changed header value verified")
		}
	})
}

// The KVS C SDKs (the WebRTC SDK signs through the producer C SDK's shared
// signer) sign user-agent, host and x-amz-date, and only trim the ends of
// each value: a run of spaces inside stays as it is. Their user agent is
// "<name>/<version> <compiler> <os> <platform> <custom>", so an empty
// component, or a custom part with two spaces, leaves a double space in it.
// cSDKSign signs r that way, independently of this package's code.
func cSDKSign(t *testing.T, r *http.Request, body []byte, at time.Time) {
	t.Helper()
	amzDate := at.Format("20060102T150405Z")
	day := at.Format("20060102")
	r.Header.Set("X-Amz-Date", amzDate)
	names := []string{"host", "user-agent", "x-amz-date"}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n\n")
	for _, n := range names {
		v := r.Header.Get(n)
		if n == "host" {
			v = r.Host
		}
		canon.WriteString(n + ":" + strings.Trim(v, " \t") + "\n")
	}
	sum := sha256.Sum256(body)
	canon.WriteString("\n" + strings.Join(names, ";") + "\n" + hex.EncodeToString(sum[:]))
	reqHash := sha256.Sum256([]byte(canon.String()))
	scope := day + "/" + testRegion + "/" + testService + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(reqHash[:])
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	key := []byte("AWS4" + testSecret)
	for _, part := range []string{day, testRegion, testService, "aws4_request"} {
		key = mac(key, part)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/"+scope+
		", SignedHeaders="+strings.Join(names, ";")+", Signature="+hex.EncodeToString(mac(key, toSign)))
}

func TestVerifyInnerSpacesAsTheKVSCSDKSignsThem(t *testing.T) {
	agents := map[string]string{
		"empty platform": "AWS-WEBRTC-KVS-AGENT/1.10.2 GCC/11.4.0 Linux/5.15.0-91-generic  doorbell/2.1",
		"custom part":    "AWS-WEBRTC-KVS-AGENT/1.10.2 GCC/11.4.0 Linux/5.15.0-91-generic x86_64 front  door",
		"single spaces":  "AWS-WEBRTC-KVS-AGENT/1.10.2 GCC/11.4.0 Linux/5.15.0-91-generic x86_64",
	}
	for name, agent := range agents {
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"ChannelName":"demo-channel"}`)
			r := newPost(t, "https://127.0.0.1:8443/describeSignalingChannel", string(body))
			r.Header.Set("User-Agent", agent)
			cSDKSign(t, r, body, testNow)
			got, gotBody := overTheWire(t, r)
			if _, err := verifierAt(testNow).VerifyRequest(got, gotBody); err != nil {
				t.Fatalf("verify: %v\n%s", err, canonicalDebug(err))
			}
		})
	}
	t.Run("tampered agent", func(t *testing.T) {
		// The leeway is the run of spaces only: another change still fails.
		body := []byte(`{"ChannelName":"demo-channel"}`)
		r := newPost(t, "https://127.0.0.1:8443/describeSignalingChannel", string(body))
		r.Header.Set("User-Agent", agents["custom part"])
		cSDKSign(t, r, body, testNow)
		r.Header.Set("User-Agent", strings.Replace(agents["custom part"], "front", "back", 1))
		got, gotBody := overTheWire(t, r)
		if _, err := verifierAt(testNow).VerifyRequest(got, gotBody); err == nil {
			t.Fatal("a changed user agent verified")
		}
	})
}
