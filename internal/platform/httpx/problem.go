package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// FieldError points at one invalid input. Location is a path such as
// "body.email" or "query.limit". The offending value is deliberately not
// echoed: it may be a password or a megabyte of junk.
type FieldError struct {
	Location string `json:"location,omitempty" doc:"Where the error is, e.g. body.items[3].name"`
	Message  string `json:"message" doc:"What is wrong with it"`
}

// Problem is the body of every error response.
type Problem struct {
	Type      string       `json:"type" doc:"A URI naming the problem type; about:blank when the status says it all"`
	Title     string       `json:"title" doc:"Short summary: the HTTP status text"`
	Status    int          `json:"status" doc:"HTTP status code"`
	Code      string       `json:"code" doc:"Stable machine-readable error code"`
	Detail    string       `json:"detail,omitempty" doc:"Human-readable explanation of this occurrence"`
	Instance  string       `json:"instance,omitempty" doc:"The request path"`
	RequestID string       `json:"request_id,omitempty" doc:"The X-Request-ID of the failed request; quote it in bug reports"`
	Errors    []FieldError `json:"errors,omitempty" doc:"Invalid fields, for validation failures"`

	headers    http.Header    // sent with the response (Retry-After…)
	extensions map[string]any // extra top-level members
}

// MarshalJSON adds the extension members next to the standard ones.
func (p *Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	b, err := json.Marshal((*plain)(p))
	if err != nil || len(p.extensions) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range p.extensions {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail) }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter.
func (p *Problem) ContentType(string) string { return ProblemContentType }

// statusOf maps application error codes to HTTP statuses: the one place
// where that decision is made.
var statusOf = map[apperr.Code]int{
	apperr.BadRequest:       http.StatusBadRequest,
	apperr.UnsupportedMedia: http.StatusUnsupportedMediaType,
	apperr.Invalid:          http.StatusUnprocessableEntity,
	apperr.Unauthenticated:  http.StatusUnauthorized,
	apperr.PermissionDenied: http.StatusForbidden,
	apperr.NotFound:         http.StatusNotFound,
	apperr.Conflict:         http.StatusConflict,
	apperr.TooLarge:         http.StatusRequestEntityTooLarge,
	apperr.RateLimited:      http.StatusTooManyRequests,
	apperr.Unavailable:      http.StatusServiceUnavailable,
	apperr.Internal:         http.StatusInternalServerError,
	// Both are a clash with what already happened: 409.
	apperr.ReplayUnavailable: http.StatusConflict,
	apperr.WebhookReplayed:   http.StatusConflict,
}

// codeOfStatus names errors that arise in the HTTP layer itself (routing,
// parsing, huma validation) rather than in a service.
var codeOfStatus = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          string(apperr.Unauthenticated),
	http.StatusForbidden:             string(apperr.PermissionDenied),
	http.StatusNotFound:              string(apperr.NotFound),
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusNotAcceptable:         "not_acceptable",
	http.StatusRequestTimeout:        "request_timeout",
	http.StatusConflict:              string(apperr.Conflict),
	http.StatusPreconditionFailed:    "precondition_failed",
	http.StatusRequestEntityTooLarge: string(apperr.TooLarge),
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   string(apperr.Invalid),
	http.StatusTooManyRequests:       string(apperr.RateLimited),
	http.StatusServiceUnavailable:    string(apperr.Unavailable),
}

const genericDetail = "An unexpected error occurred. The request id identifies it in the server log."

// newProblem builds the response for an error. Any error that is not an
// *apperr.Error or an HTTP-layer error becomes a generic 500; its text goes
// to the log only.
func newProblem(rc reqCtx, status int, msg string, errs ...error) *Problem {
	for _, err := range errs {
		if ae, ok := apperr.As(err); ok {
			return fromAppErr(rc, ae)
		}
		// The body limit middleware's reader stopped a read: whoever was
		// reading (huma, a raw handler) saw an error, but the client sent
		// too much.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newProblem(rc, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the %d-byte limit", mbe.Limit))
		}
	}
	p := &Problem{Type: "about:blank", Status: status, Title: http.StatusText(status), Detail: msg,
		Instance: rc.path, RequestID: logging.RequestID(rc.ctx)}
	p.Code = codeOfStatus[status]
	if p.Code == "" {
		p.Code = string(apperr.Internal)
		if status < 500 {
			p.Code = "error"
		}
	}
	var causes []error
	for _, err := range errs {
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			ed := d.ErrorDetail()
			p.Errors = append(p.Errors, fieldError(ed.Location, ed.Message))
			continue
		}
		if err != nil {
			causes = append(causes, err)
		}
	}
	if status >= 500 {
		logError(rc, status, msg, errors.Join(causes...))
		p.Detail = genericDetail
		if status == http.StatusServiceUnavailable {
			p.Detail = "The service is temporarily unavailable. Retry later."
		}
	} else if len(causes) > 0 && p.Detail == "" {
		p.Detail = causes[0].Error()
	}
	if status == http.StatusUnprocessableEntity && p.Detail == "" {
		p.Detail = "validation failed"
	}
	return p
}

// missingProperty matches huma's message for an absent required field,
// which it reports at the parent object's location.
var missingProperty = regexp.MustCompile(`^expected required property (\S+) to be present$`)

// fieldError points a missing-field error at the field itself
// (body.email, not body), so clients can show it next to the right input.
func fieldError(location, message string) FieldError {
	if m := missingProperty.FindStringSubmatch(message); m != nil {
		return FieldError{Location: location + "." + m[1], Message: "is required"}
	}
	return FieldError{Location: location, Message: message}
}

func fromAppErr(rc reqCtx, e *apperr.Error) *Problem {
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := &Problem{Type: "about:blank", Status: status, Title: http.StatusText(status), Code: string(e.Code), Detail: e.Message,
		Instance: rc.path, RequestID: logging.RequestID(rc.ctx)}
	for _, f := range e.Fields {
		p.Errors = append(p.Errors, FieldError{Location: f.Path, Message: f.Message})
	}
	p.extensions = e.Extensions
	if r := e.Retry; r != nil {
		// RFC 9110 Retry-After and the IETF RateLimit header fields draft.
		p.headers = http.Header{}
		p.headers.Set("Retry-After", strconv.Itoa(ceilSeconds(r.After)))
		p.headers.Set("RateLimit-Limit", strconv.Itoa(r.Limit))
		p.headers.Set("RateLimit-Remaining", strconv.Itoa(r.Remaining))
		p.headers.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(r.Reset)))
	}
	if status >= 500 {
		logError(rc, status, e.Message, e)
		if status == http.StatusInternalServerError {
			p.Detail = genericDetail
		}
	}
	return p
}

// reqCtx is what an error response needs from its request. Errors made
// without one (huma.NewError) get the background context.
type reqCtx struct {
	ctx  context.Context
	path string
}

func reqCtxOf(r *http.Request) reqCtx { return reqCtx{ctx: r.Context(), path: r.URL.Path} }

func logError(rc reqCtx, status int, msg string, cause error) {
	logging.From(rc.ctx).ErrorContext(rc.ctx, "request failed", "status", status, "msg", msg, "err", cause, "path", rc.path)
}

// WriteProblem writes an error response outside huma (router fallbacks,
// middleware, panics).
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string, errs ...error) {
	writeProblem(w, newProblem(reqCtxOf(r), status, detail, errs...))
}

// WriteError writes err as a problem, mapping *apperr.Error codes.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, newProblem(reqCtxOf(r), http.StatusInternalServerError, "", err))
}

func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func writeProblem(w http.ResponseWriter, p *Problem) {
	for k, v := range p.headers {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

var installOnce sync.Once

// installHumaErrors routes every error huma creates through newProblem.
// huma exposes this only as package variables, so it is set once per
// process; the function it installs reads everything request-specific from
// the request context.
func installHumaErrors() {
	installOnce.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			return newProblem(reqCtx{ctx: context.Background()}, status, humaMessage(status, msg), errs...)
		}
		huma.NewErrorWithContext = func(hc huma.Context, status int, msg string, errs ...error) huma.StatusError {
			rc := reqCtx{ctx: context.Background()}
			if hc != nil {
				rc = reqCtx{ctx: hc.Context(), path: hc.URL().Path}
			}
			p := newProblem(rc, status, humaMessage(status, msg), errs...)
			if hc != nil {
				for k, v := range p.headers {
					for _, s := range v {
						hc.SetHeader(k, s)
					}
				}
			}
			return p
		}
	})
}

// humaMessage rewords huma's terse messages where a client deserves better.
func humaMessage(status int, msg string) string {
	switch {
	case status == http.StatusUnprocessableEntity && msg == "validation failed":
		return "validation failed: see errors for each invalid field"
	case status == http.StatusBadRequest && strings.Contains(msg, "validation failed"):
		return "the request body is not valid JSON"
	}
	return msg
}
