package sigv4

import (
	"net/url"
	"slices"
	"testing"
)

// Some signers add X-Amz-Security-Token to a presigned URL after signing it,
// as the KVS C SDK does with the header of REST requests; others sign it
// with the rest of the query. Both must verify and report the token, which
// the caller then compares with the stored one.
func TestPresignedTokenAppendedAfterSigning(t *testing.T) {
	signed, err := PresignURL(wsURL(t, "viewer-1"), longTermCreds, testRegion, testService, testNow, 299e9)
	if err != nil {
		t.Fatal(err)
	}
	appended := *signed
	appended.RawQuery += "&X-Amz-Security-Token=" + url.QueryEscape(testToken)
	res, err := verifierAt(testNow).VerifyPresigned(upgradeRequest(t, &appended))
	if err != nil {
		t.Fatalf("verify %s: %v\n%s", appended.String(), err, canonicalDebug(err))
	}
	if res.SessionToken != testToken {
		t.Errorf("SessionToken = %q, want %q", res.SessionToken, testToken)
	}

	// Leaving the token out of the canonical query is the only leeway: a
	// parameter other than the token added after signing still fails.
	other := *signed
	other.RawQuery += "&X-Amz-Role=MASTER"
	if _, err := verifierAt(testNow).VerifyPresigned(upgradeRequest(t, &other)); err == nil {
		t.Fatal("a parameter added after signing verified")
	}
}

// TestHeaderTokenUnsignedAsTheKVSCSDKSendsIt: the KVS C SDK signs host,
// user-agent and x-amz-date only and adds X-Amz-Security-Token (and
// Content-Type) after signing (spec 7.2, section 9 item 18). The request
// verifies, and the unsigned token is still reported for the caller to
// compare with the stored one.
func TestHeaderTokenUnsignedAsTheKVSCSDKSendsIt(t *testing.T) {
	body := []byte(`{"ChannelName":"demo-channel"}`)
	r := newPost(t, "https://127.0.0.1:8443/describeSignalingChannel", string(body))
	r.Header.Set("User-Agent", "AWS-WEBRTC-KVS-AGENT/1.10.2 GCC/11.4.0 Linux/5.15.0-91-generic x86_64")
	cSDKSign(t, r, body, testNow)
	r.Header.Set("X-Amz-Security-Token", testToken)
	got, gotBody := overTheWire(t, r)
	res, err := verifierAt(testNow).VerifyRequest(got, gotBody)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, canonicalDebug(err))
	}
	if res.SessionToken != testToken {
		t.Errorf("SessionToken = %q, want the unsigned header's %q", res.SessionToken, testToken)
	}
	if want := []string{"host", "user-agent", "x-amz-date"}; !slices.Equal(res.SignedHeaders, want) {
		t.Errorf("SignedHeaders = %q, want %q", res.SignedHeaders, want)
	}
}
