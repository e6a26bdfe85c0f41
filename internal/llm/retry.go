package llm

import (
	"context"
	"errors"
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
}

type retrying struct {
	p      Provider
	policy RetryPolicy
	sleep  func(context.Context, time.Duration) error
}

// Retry wraps p: rate limits, overloads, 5xx and timeouts are retried with
// jittered exponential backoff, waiting at least what Retry-After asks.
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
	return &retrying{p: p, policy: policy, sleep: sleepCtx}
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
	var err error
	streamed := false
	if onDelta := req.OnDelta; onDelta != nil {
		req.OnDelta = func(text string) {
			streamed = true
			onDelta(text)
		}
	}
	for attempt := 0; attempt < r.policy.Attempts; attempt++ {
		var resp *Response
		resp, err = r.attempt(ctx, req, attempt)
		if err == nil {
			return resp, nil
		}
		var le *Error
		// Once text has reached the listener a retry would repeat it, so a
		// stream that breaks midway fails instead.
		if !errors.As(err, &le) || !le.Retryable || streamed || attempt == r.policy.Attempts-1 {
			return nil, err
		}
		if serr := r.sleep(ctx, r.wait(attempt, le.RetryAfter)); serr != nil {
			return nil, err
		}
	}
	return nil, err
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
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", resp.Usage.InputTokens), attribute.Int("gen_ai.usage.output_tokens", resp.Usage.OutputTokens),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{resp.FinishReason}))
	return resp, nil
}

const tracerName = "github.com/pulse-run/pulse/internal/llm"

// wait is full-jitter exponential backoff, but never less than the
// provider's Retry-After (seconds or an HTTP date), capped at Max.
func (r *retrying) wait(attempt int, retryAfter string) time.Duration {
	backoff := r.policy.Base << attempt
	d := time.Duration(rand.Int64N(int64(backoff)) + 1)
	if ra := parseRetryAfter(retryAfter); ra > d {
		d = ra
	}
	return min(d, r.policy.Max)
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
