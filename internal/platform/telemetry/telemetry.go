// Package telemetry sets up OpenTelemetry tracing. Spans are exported over
// OTLP/HTTP when an endpoint is configured; otherwise a no-op provider costs
// nothing. The provider is passed to the features that trace; it is never
// installed as a global.
package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is where and as what to export.
type Config struct {
	Endpoint    string            // OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces; empty: off
	Headers     map[string]string // sent with every export (e.g. an API key)
	ServiceName string
	Version     string
}

// Telemetry owns the tracer provider.
type Telemetry struct {
	Provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when off
}

// New returns tracing as configured: exporting, or a no-op.
func New(ctx context.Context, c Config) (*Telemetry, error) {
	if c.Endpoint == "" {
		return &Telemetry{Provider: noop.NewTracerProvider()}, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(c.Endpoint)}
	if len(c.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(c.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", c.ServiceName), attribute.String("service.version", c.Version))
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)), sdktrace.WithResource(res))
	return &Telemetry{Provider: sdk, sdk: sdk}, nil
}

// Tracer returns a named tracer, or nil when tracing is off, so callers
// skip span work entirely.
func (t *Telemetry) Tracer(name string) trace.Tracer {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Tracer(name)
}

// Shutdown flushes the spans still buffered; call it once, at exit.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}
