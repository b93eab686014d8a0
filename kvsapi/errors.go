package kvsapi

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrorCode is an AWS error name together with the HTTP status it travels with.
type ErrorCode struct {
	Name   string
	Status int
}

// The error catalog. Names and statuses come from the service models and the
// AWS front ends (spec section 1.3); a handler never invents a name outside it.
var (
	CodeInvalidArgument              = ErrorCode{"InvalidArgumentException", http.StatusBadRequest}
	CodeClientLimitExceeded          = ErrorCode{"ClientLimitExceededException", http.StatusBadRequest}
	CodeAccountChannelLimitExceeded  = ErrorCode{"AccountChannelLimitExceededException", http.StatusBadRequest}
	CodeResourceInUse                = ErrorCode{"ResourceInUseException", http.StatusBadRequest}
	CodeTagsPerResourceExceededLimit = ErrorCode{"TagsPerResourceExceededLimitException", http.StatusBadRequest}
	CodeVersionMismatch              = ErrorCode{"VersionMismatchException", http.StatusBadRequest}
	CodeResourceNotFound             = ErrorCode{"ResourceNotFoundException", http.StatusNotFound}
	CodeAccessDenied                 = ErrorCode{"AccessDeniedException", http.StatusUnauthorized}
	CodeAccessDeniedWebSocket        = ErrorCode{"AccessDeniedException", http.StatusForbidden}
	CodeNotAuthorized                = ErrorCode{"NotAuthorizedException", http.StatusUnauthorized}
	CodeInvalidClient                = ErrorCode{"InvalidClientException", http.StatusBadRequest}
	CodeSessionExpired               = ErrorCode{"SessionExpiredException", http.StatusBadRequest}

	CodeMissingAuthenticationToken = ErrorCode{"MissingAuthenticationTokenException", http.StatusForbidden}
	CodeIncompleteSignature        = ErrorCode{"IncompleteSignatureException", http.StatusBadRequest}
	CodeInvalidSignature           = ErrorCode{"InvalidSignatureException", http.StatusForbidden}
	CodeUnrecognizedClient         = ErrorCode{"UnrecognizedClientException", http.StatusForbidden}

	CodeUnknownOperation   = ErrorCode{"UnknownOperationException", http.StatusNotFound}
	CodeSerialization      = ErrorCode{"SerializationException", http.StatusBadRequest}
	CodeInternalFailure    = ErrorCode{"InternalFailure", http.StatusInternalServerError}
	CodeServiceUnavailable = ErrorCode{"ServiceUnavailableException", http.StatusServiceUnavailable}
)

// Error is an API error: a catalog code and a human-readable message. It is
// what handlers return and what the wire shows as
// {"__type": Name, "Message": Message}.
type Error struct {
	Code    ErrorCode
	Message string
}

// Errorf builds an API error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Code.Name + ": " + e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, kvsapi.Errorf(kvsapi.CodeResourceNotFound, "")) works; most
// callers use HasCode instead.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// HasCode reports whether err is, or wraps, an API error with the given code.
func HasCode(err error, code ErrorCode) bool {
	var apiErr *Error
	return errors.As(err, &apiErr) && apiErr.Code == code
}

// ErrorBody is the JSON body of every error reply (spec section 1.3).
type ErrorBody struct {
	Type    string `json:"__type"`
	Message string `json:"Message"`
}

// ChannelNotFoundMessage is the text the real service uses for a missing
// channel; the C SDK's own test server uses it too.
const ChannelNotFoundMessage = "The requested channel is not found or not active."
