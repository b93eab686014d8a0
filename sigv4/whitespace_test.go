package sigv4

import (
	"context"
	"testing"

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
