package ops

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/report"
	"github.com/issuer-dev/issuer/wxpay"
)

// Error codes: the one vocabulary in which every front end tells what went
// wrong with an operation. ErrorCode finds an error's code; HTTPStatus and
// ExitCode turn a code into the API's status and the command line's exit
// status, each in one table below.
const (
	EINVALID        = "invalid"           // the request cannot be carried out as given: change an argument
	EUNPROCESSABLE  = "unprocessable"     // the file cannot be stored as it is: rejected lines, a bad header, a bad name
	ENOTFOUND       = "not_found"         // no such batch, user, token or data
	ECONFLICT       = "conflict"          // the state forbids it: a batch that can no longer change, a duplicate file, the last admin
	EFORBIDDEN      = "forbidden"         // the actor may not: their role, maker-checker, no credential
	EUNAUTHORIZED   = "unauthorized"      // nobody proved who acts
	ETOOLARGE       = "too_large"         // the request is over a size limit
	ETOOMANY        = "too_many_requests" // slowed down: a lockout, too many sign-ins from one address
	EUNAVAILABLE    = "unavailable"       // cannot be done now: no merchant keys, the uploads' space is full, too many sign-ins
	EUPSTREAM       = "upstream"          // WeChat Pay did not answer, or answered with a failure of its own
	ENOTIMPLEMENTED = "not_implemented"   // not built
	EINTERNAL       = "internal"          // anything else: a bug or the database; the message is not shown to people
)

// Error is an operation's failure with its code. Message is what a person
// is told; Err, when set, is the error underneath (errors.Is and As see
// it).
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message; a %w in
// format becomes its Err.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// invalidf is an EINVALID error: a bad argument.
func invalidf(format string, args ...any) error { return Errorf(EINVALID, format, args...) }

// forbiddenf is an EFORBIDDEN error; it matches auth.ErrForbidden, the one
// sentinel of a refusal.
func forbiddenf(format string, args ...any) error {
	return &Error{Code: EFORBIDDEN, Message: "forbidden: " + fmt.Sprintf(format, args...), Err: auth.ErrForbidden}
}

// ErrorCode returns err's code: an *Error's own, or the code of the error
// of a package below that ops passes on (queue, intake, auth, report,
// WeChat Pay). nil has none; an error nobody named is EINTERNAL.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	for _, t := range sentinels {
		if errors.Is(err, t.err) {
			return t.code
		}
	}
	return typedCode(err)
}

// sentinels are the errors of the packages below, by code.
var sentinels = []struct {
	err  error
	code string
}{
	{auth.ErrForbidden, EFORBIDDEN},
	{queue.ErrSelfApproval, EFORBIDDEN},
	// A signed-in person giving a wrong password (changing their own) is
	// refused; signing in answers 401 itself.
	{auth.ErrBadCredentials, EFORBIDDEN},
	{auth.ErrNoSession, EUNAUTHORIZED},
	{queue.ErrNotFound, ENOTFOUND},
	{report.ErrNoData, ENOTFOUND},
	{auth.ErrNotFound, ENOTFOUND},
	{auth.ErrNoToken, ENOTFOUND},
	{queue.ErrState, ECONFLICT},
	{intake.ErrDuplicateFile, ECONFLICT},
	{auth.ErrExists, ECONFLICT},
	{auth.ErrLastAdmin, ECONFLICT},
	{intake.ErrTooManyRejects, EUNPROCESSABLE},
	{intake.ErrBadName, EUNPROCESSABLE},
	{auth.ErrInvalid, EINVALID},
	{ErrNoWX, EUNAVAILABLE},
	{auth.ErrBusy, EUNAVAILABLE},
	{auth.ErrAddressBusy, ETOOMANY},
}

// typedCode is the code of the typed errors of the packages below.
func typedCode(err error) string {
	var (
		fatal  *intake.FatalError
		locked *auth.LockedError
		tooBig *http.MaxBytesError
		te     *wxpay.TransportError
		we     WXError
	)
	switch {
	case errors.As(err, &fatal):
		return EUNPROCESSABLE
	case errors.As(err, &locked):
		return ETOOMANY
	case errors.As(err, &tooBig):
		return ETOOLARGE
	case wxpay.MaybeDone(err), errors.As(err, &te):
		return EUPSTREAM
	case errors.As(err, &we):
		// WeChat Pay refused the request: not found, or as the state of
		// the stock forbids; a 5xx is its own failure.
		switch {
		case we.Status == http.StatusNotFound:
			return ENOTFOUND
		case we.Status >= 400 && we.Status < 500:
			return ECONFLICT
		}
		return EUPSTREAM
	}
	return EINTERNAL
}

// ErrorMessage is what a person is told of err: its text, but never an
// internal error's, which goes to the log instead.
func ErrorMessage(err error) string {
	switch ErrorCode(err) {
	case "":
		return ""
	case EINTERNAL:
		return "internal error"
	}
	return err.Error()
}

// httpStatus is the API's status of each code (the contract: 401 without
// a credential, 403 for a role that may not, 409 for a state that
// forbids).
var httpStatus = map[string]int{
	EINVALID:        http.StatusBadRequest,
	EUNPROCESSABLE:  http.StatusUnprocessableEntity,
	ENOTFOUND:       http.StatusNotFound,
	ECONFLICT:       http.StatusConflict,
	EFORBIDDEN:      http.StatusForbidden,
	EUNAUTHORIZED:   http.StatusUnauthorized,
	ETOOLARGE:       http.StatusRequestEntityTooLarge,
	ETOOMANY:        http.StatusTooManyRequests,
	EUNAVAILABLE:    http.StatusServiceUnavailable,
	EUPSTREAM:       http.StatusBadGateway,
	ENOTIMPLEMENTED: http.StatusNotImplemented,
	EINTERNAL:       http.StatusInternalServerError,
}

// HTTPStatus is the API's status for err: 200 for nil.
func HTTPStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return httpStatus[ErrorCode(err)]
}

// Exit statuses of the command line, as the contract names them.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // failure: the message on stderr says what and where
	ExitUsage   = 2 // a usage error: the command line's own flags and arguments
)

// exitCode is the command line's exit status of each code. The contract
// knows one failure status; a usage error (2) is the command line's own
// finding about its flags, which it reports without asking ops.
var exitCode = map[string]int{
	EINVALID:        ExitFailure,
	EUNPROCESSABLE:  ExitFailure,
	ENOTFOUND:       ExitFailure,
	ECONFLICT:       ExitFailure,
	EFORBIDDEN:      ExitFailure,
	EUNAUTHORIZED:   ExitFailure,
	ETOOLARGE:       ExitFailure,
	ETOOMANY:        ExitFailure,
	EUNAVAILABLE:    ExitFailure,
	EUPSTREAM:       ExitFailure,
	ENOTIMPLEMENTED: ExitFailure,
	EINTERNAL:       ExitFailure,
}

// ExitCode is the command line's exit status for err: 0 for nil.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	return exitCode[ErrorCode(err)]
}
