package llm

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// RetryPolicy is how a provider call is retried.
type RetryPolicy struct {
	Attempts int           // total tries (default 3)
	Base     time.Duration // first backoff (default 500 ms)
	Max      time.Duration // longest wait, also for Retry-After (default 30 s)

	// Sleep waits d, or until ctx ends (nil: a timer). Tests inject one
	// that returns at once and records the waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock a Retry-After date is read against (nil: time.Now).
	Now func() time.Time
}

// Retried is one failed attempt that was tried again, as the trace
// records it.
type Retried struct {
	Attempt int        `json:"attempt"` // which try failed, from 1
	Class   ErrorClass `json:"class"`
	Status  int        `json:"status,omitempty"`
	Error   string     `json:"error"`
	WaitMS  int64      `json:"wait_ms"` // the backoff before the next try
}

type retrying struct {
	p      Provider
	policy RetryPolicy
}

// Retry wraps p: every failure Classify calls retryable (rate limits, 5xx,
// connection failures, timeouts) is retried with full-jitter exponential
// backoff, waiting at least what Retry-After asks, at most Attempts times
// in all. A Retry-After longer than Max is not retried at all. A cancelled context is never retried and stops the wait. Once
// text has been streamed to the caller nothing is retried: the caller
// would see it twice.
//
// The provider SDKs' own retries are off (see each provider's New), so
// these are the only ones and do not multiply.
func Retry(p Provider, policy RetryPolicy) Provider {
	if policy.Attempts <= 0 {
		policy.Attempts = 3
	}
	if policy.Base <= 0 {
		policy.Base = 500 * time.Millisecond
	}
	if policy.Max <= 0 {
		policy.Max = 30 * time.Second
	}
	if policy.Sleep == nil {
		policy.Sleep = sleepCtx
	}
	if policy.Now == nil {
		policy.Now = time.Now
	}
	return &retrying{p: p, policy: policy}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *retrying) Chat(ctx context.Context, req Request) (*Response, error) {
	streamed := false
	if onDelta := req.OnDelta; onDelta != nil {
		req.OnDelta = func(text string) {
			streamed = true
			onDelta(text)
		}
	}
	for attempt := 0; ; attempt++ {
		resp, err := r.attempt(ctx, req, attempt)
		if err == nil {
			return resp, nil
		}
		class := Classify(err)
		// Once text has reached the listener a retry would repeat it, so a
		// stream that breaks midway fails instead (the run decides what
		// next: see run.Loop.chat).
		if !class.Retryable() || streamed || attempt == r.policy.Attempts-1 || ctx.Err() != nil {
			return nil, err
		}
		var le *Error
		retryAfter := ""
		if errors.As(err, &le) {
			retryAfter = le.RetryAfter
		}
		wait, ok := r.wait(attempt, retryAfter)
		if !ok {
			// The provider asks for a longer wait than the policy allows:
			// retrying sooner would ignore it, so give up now and let the
			// caller fall back.
			return nil, err
		}
		rec := Retried{Attempt: attempt + 1, Class: class, Error: err.Error(), WaitMS: wait.Milliseconds()}
		if le != nil {
			rec.Status = le.Status
		}
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.AddEvent("retry", trace.WithAttributes(attribute.Int("pulse.attempt", rec.Attempt), attribute.String("error.type", string(class)),
				attribute.Int("http.response.status_code", rec.Status), attribute.Int64("pulse.retry.wait_ms", rec.WaitMS)))
		}
		if req.OnRetry != nil {
			req.OnRetry(rec)
		}
		if serr := r.policy.Sleep(ctx, wait); serr != nil {
			return nil, err
		}
	}
}

// attempt is one call to the provider, traced as a client span under the
// caller's span (a model step), with the tracer that span came from.
func (r *retrying) attempt(ctx context.Context, req Request, n int) (*Response, error) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return r.p.Chat(ctx, req)
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, "chat "+req.Model, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", req.Model),
			attribute.Int("pulse.attempt", n+1), attribute.Bool("pulse.stream", req.OnDelta != nil)))
	defer span.End()
	resp, err := r.p.Chat(ctx, req)
	if err != nil {
		var le *Error
		if errors.As(err, &le) {
			span.SetAttributes(attribute.String("gen_ai.provider.name", le.Provider))
			if le.Status != 0 {
				span.SetAttributes(attribute.Int("http.response.status_code", le.Status))
			}
		}
		span.SetAttributes(attribute.String("error.type", string(Classify(err))))
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", resp.Usage.InputTokens), attribute.Int("gen_ai.usage.output_tokens", resp.Usage.OutputTokens),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{resp.FinishReason}))
	return resp, nil
}

const tracerName = "github.com/pulse-run/pulse/internal/llm"

// wait is full-jitter exponential backoff (a uniform draw up to
// Base·2^attempt, capped at Max), but never less than the provider's
// Retry-After (seconds or an HTTP date). ok is false when Retry-After asks
// for more than Max.
func (r *retrying) wait(attempt int, retryAfter string) (d time.Duration, ok bool) {
	backoff := r.policy.Max
	if attempt < 30 {
		backoff = min(r.policy.Base<<attempt, r.policy.Max)
	}
	d = time.Duration(rand.Int64N(int64(backoff)) + 1)
	if ra := parseRetryAfter(retryAfter, r.policy.Now()); ra > d {
		if ra > r.policy.Max {
			return 0, false
		}
		d = ra
	}
	return d, true
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		// Past what a Duration holds (or +Inf) the conversion would wrap
		// to a negative wait, and the call be retried at once.
		if s >= float64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}
