package registrar

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/emiago/sipgo/sip"
)

// Failure is a reason a REGISTER is refused, with the reply it gets. One
// table maps them all, as Kamailio's rerrno.h and reply.c do.
type Failure int

// Failures, in the order of the table.
const (
	FailNone Failure = iota
	FailNotRegister
	FailBadAOR
	FailDomain
	FailUnsupported
	FailStar
	FailBadExpires
	FailBadQ
	FailBadContact
	FailBadRegID
	FailTooBrief
	FailOutOfOrder
	FailTooMany
	FailStore
	FailInternal
)

var failures = [...]struct {
	code   int
	reason string
	lua    int // return code of save()
}{
	FailNone:        {200, "OK", 1},
	FailNotRegister: {500, "Server Internal Error", -1},
	FailBadAOR:      {400, "Bad To URI", -1},
	FailDomain:      {404, "Not Found", -1},
	FailUnsupported: {420, "Bad Extension", -1},
	FailStar:        {400, "Invalid Wildcard Contact", -1},
	FailBadExpires:  {400, "Invalid Expires", -1},
	FailBadQ:        {400, "Invalid q Value", -1},
	FailBadContact:  {400, "Bad Contact", -1},
	FailBadRegID:    {400, "Invalid reg-id", -1},
	FailTooBrief:    {423, "Interval Too Brief", -1},
	FailOutOfOrder:  {500, "Out Of Order CSeq", -1},
	FailTooMany:     {503, "Too Many Registered Contacts", -2},
	FailStore:       {500, "Server Internal Error", -1},
	FailInternal:    {500, "Server Internal Error", -1},
}

// Error is a refused REGISTER: the failure, detail for the log, and the
// headers its reply carries (Min-Expires, Unsupported, Retry-After).
type Error struct {
	Failure Failure
	Detail  string
	Headers []sip.Header
	Err     error
}

func (e *Error) Error() string {
	f := failures[e.Failure]
	s := fmt.Sprintf("registrar: %d %s", f.code, f.reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Reply returns the status code and reason phrase for e.
func (e *Error) Reply() (int, string) {
	f := failures[e.Failure]
	return f.code, f.reason
}

// LuaCode is save()'s return code for e.
func (e *Error) LuaCode() int { return failures[e.Failure].lua }

func fail(f Failure, detail string, hdrs ...sip.Header) *Error {
	return &Error{Failure: f, Detail: detail, Headers: hdrs}
}

// RetryAfter is the Retry-After a store outage reply carries, in seconds.
const RetryAfter = 5

// storeError classifies an error from the location service.
func storeError(err error) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return &Error{Failure: FailStore, Err: err, Headers: []sip.Header{
		sip.NewHeader("Retry-After", strconv.Itoa(RetryAfter)),
	}}
}
