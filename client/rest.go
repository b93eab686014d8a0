package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/switchboard-rtc/switchboard/sigv4"
)

// maxReplyBytes bounds a REST reply body; KVS replies are a few KiB.
const maxReplyBytes = 1 << 20

// userAgent identifies this SDK in requests (not signed).
const userAgent = "switchboard-go-client/1"

// call POSTs in as JSON to base+path, signed with SigV4, and decodes a 200
// reply into out (which may be nil). op names the operation in errors. A
// call the server refused for the signature's time alone is signed again
// with the clock corrected from the reply's Date header and sent once more;
// no other failure is retried.
func (c *Client) call(ctx context.Context, op, base, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("client: %s: encoding request: %w", op, err)
	}
	data, err := c.send(ctx, op, base+path, body)
	if err != nil && c.clock.learnFrom(err) {
		data, err = c.send(ctx, op, base+path, body)
	}
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("client: %s: decoding reply: %w", op, err)
	}
	return nil
}

// send signs body, POSTs it to target and returns the body of a 200 reply.
// Any other reply is an error wrapping an *APIError.
func (c *Client) send(ctx context.Context, op, target string, body []byte) ([]byte, error) {
	req, err := c.newSignedRequest(ctx, target, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", op, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w", wrapTransport(op, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("client: %w", wrapTransport(op+": reading reply", err))
	}
	if len(data) > maxReplyBytes {
		return nil, fmt.Errorf("client: %s: reply body exceeds %d bytes", op, maxReplyBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: %s: %w", op, parseAPIError(resp.StatusCode, resp.Header, data))
	}
	return data, nil
}

// newSignedRequest builds the POST with an explicit Content-Length (spec
// 1.2) and signs it with fresh credentials.
func (c *Client) newSignedRequest(ctx context.Context, target string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieving credentials: %w", err)
	}
	if err := sigv4.SignRequest(req, body, creds, c.region, signingService, c.clock.now()); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return req, nil
}
