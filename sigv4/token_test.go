package sigv4

import (
	"net/url"
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
