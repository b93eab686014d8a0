package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/httpx"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// ServeHTTP runs the operation of the request path: it reads the body
// within the size limit, authenticates, runs the operation and writes the
// reply. Every outcome is counted and logged once.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := httpx.RequestID(w)
	op, ok := a.operations[r.URL.Path]
	name := op.name
	var err error
	var out any
	switch {
	case !ok:
		name = "Unknown"
		err = kvsapi.Errorf(kvsapi.CodeUnknownOperation, "No operation is served at %s %s", r.Method, r.URL.Path)
	case r.Method != http.MethodPost:
		err = kvsapi.Errorf(kvsapi.CodeUnknownOperation, "%s takes POST, got %s", name, r.Method)
	default:
		out, err = a.run(r, op)
	}
	var code kvsapi.ErrorCode
	if err != nil {
		code = httpx.WriteError(w, r, err)
	} else if werr := httpx.WriteJSON(w, http.StatusOK, out); werr != nil {
		err = werr
		code = httpx.WriteError(w, r, werr)
	}
	a.observe(r, requestID, name, code, err, time.Since(start))
}

func (a *API) run(r *http.Request, op operation) (any, error) {
	body, err := a.readBody(r)
	if err != nil {
		return nil, err
	}
	p, err := a.auth.Authenticate(r, body)
	if err != nil {
		return nil, err
	}
	return op.run(auth.WithPrincipal(r.Context(), p), p, body)
}

func (a *API) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > a.maxBody {
		return nil, tooLarge(a.maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
	if err != nil {
		return nil, kvsapi.Errorf(kvsapi.CodeSerialization, "Could not read the request body: %v", err)
	}
	if int64(len(body)) > a.maxBody {
		return nil, tooLarge(a.maxBody)
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "The request body exceeds the limit of %d bytes (server.max_body_bytes)", limit)
}

func (a *API) observe(r *http.Request, requestID, name string, code kvsapi.ErrorCode, err error, took time.Duration) {
	errName := code.Name
	a.metrics.requests.WithLabelValues(name, errName).Inc()
	a.metrics.latency.WithLabelValues(name).Observe(took.Seconds())
	level := slog.LevelDebug
	if code.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []any{"operation", name, "status", statusOf(code), "duration", took, "request_id", requestID}
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		attrs = append(attrs, "account", p.Account)
	}
	if err != nil {
		attrs = append(attrs, "error", errName, "detail", err.Error())
	}
	a.log.Log(r.Context(), level, "request", attrs...)
}

func statusOf(code kvsapi.ErrorCode) int {
	if code.Status == 0 {
		return http.StatusOK
	}
	return code.Status
}

// decode reads a JSON object body into v. An empty body counts as {};
// unknown members are ignored, as AWS clients add members over time.
func decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' {
		return kvsapi.Errorf(kvsapi.CodeSerialization, "The request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return kvsapi.Errorf(kvsapi.CodeSerialization, "%s must be of type %s, got a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return kvsapi.Errorf(kvsapi.CodeSerialization, "The request body is not valid JSON: %v", err)
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "float64":
		return "number"
	case "string":
		return "string"
	case "slice":
		return "list"
	case "struct", "map", "ptr":
		return "object"
	}
	return goKind
}

// required reports a missing required member.
func required(member string) error {
	return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s is required", member)
}
