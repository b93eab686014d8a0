package e2e

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// kvs returns an AWS SDK for Go v2 client for the server, signed with the
// given keys (the root keys when none are given). Retries are off so that
// every error reaches the test as the server sent it.
func (s *server) kvs(keys ...string) *kinesisvideo.Client {
	access, secret := testAccessKey, testSecret
	if len(keys) == 2 {
		access, secret = keys[0], keys[1]
	}
	return kinesisvideo.New(kinesisvideo.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.Endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(access, secret, ""),
		HTTPClient:       s.HTTPClient(),
		RetryMaxAttempts: 1,
	})
}

// apiError is what a failed SDK call tells its caller: the error name and
// the HTTP status.
type apiError struct {
	Code   string
	Status int
	Msg    string
}

func asAPIError(t *testing.T, err error) apiError {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got success")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error is not an API error: %v", err)
	}
	out := apiError{Code: ae.ErrorCode(), Msg: ae.ErrorMessage()}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		out.Status = re.HTTPStatusCode()
	}
	return out
}

func wantAPIError(t *testing.T, err error, code string, status int) apiError {
	t.Helper()
	got := asAPIError(t, err)
	if got.Code != code || got.Status != status {
		t.Fatalf("got %s (HTTP %d): %q; want %s (HTTP %d)", got.Code, got.Status, got.Msg, code, status)
	}
	return got
}

var _ = http.StatusOK
