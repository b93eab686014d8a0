// Package httpx writes HTTP replies the way AWS front ends do, so that every
// response Switchboard sends, success or error, carries what the official
// clients rely on (spec sections 1.2 to 1.5): an explicit Content-Length (the
// KVS C SDK keeps only the last body chunk it reads, so bodies are never
// chunked or compressed), a Date header (clock-skew correction), an
// x-amzn-RequestId, and for errors the AWS error name in both the
// x-amzn-ErrorType header and the __type body member.
//
// It owns the response shape only; routing, authentication and logging
// belong to the callers.
package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Header names set on every reply.
const (
	HeaderRequestID = "x-amzn-RequestId"
	HeaderErrorType = "x-amzn-ErrorType"
)

// NewRequestID returns a random UUID version 4 in its canonical text form.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// RequestID returns the request id already set on w, or sets a new one.
func RequestID(w http.ResponseWriter) string {
	if id := w.Header().Get(HeaderRequestID); id != "" {
		return id
	}
	id := NewRequestID()
	w.Header().Set(HeaderRequestID, id)
	return id
}

// WriteJSON writes v as a JSON reply with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeBody(w, status, body)
	return nil
}

// WriteError writes err in the AWS error shape. An *kvsapi.Error (or an
// error wrapping one) keeps its name, status and message; anything else is
// answered 500 InternalFailure with a generic message, so internal details
// never leak to clients. It returns the code it wrote.
func WriteError(w http.ResponseWriter, _ *http.Request, err error) kvsapi.ErrorCode {
	apiErr := AsAPIError(err)
	w.Header().Set(HeaderErrorType, apiErr.Code.Name)
	body, _ := json.Marshal(kvsapi.ErrorBody{Type: apiErr.Code.Name, Message: apiErr.Message})
	writeBody(w, apiErr.Code.Status, body)
	return apiErr.Code
}

// AsAPIError returns the API error inside err, or InternalFailure.
func AsAPIError(err error) *kvsapi.Error {
	var apiErr *kvsapi.Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return kvsapi.Errorf(kvsapi.CodeInternalFailure, "The request processing has failed because of an unknown error.")
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	RequestID(w)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
