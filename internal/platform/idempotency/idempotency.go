// Package idempotency makes POST requests safe to retry: a request sent
// again with the same Idempotency-Key and the same body within 24 hours
// gets the first response back, without doing the work twice; the same key
// with a different request is refused. Keys belong to the signed-in user.
package idempotency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/kv"
)

// TTL is how long a key's response is kept.
const TTL = 24 * time.Hour

// abandonAfter is when a request still marked in progress is taken to have
// died with its process, so the key can be used again.
const abandonAfter = 10 * time.Minute

const namespace = "idempotency"

// Header is the request header clients set.
const Header = "Idempotency-Key"

// record is what is stored under a key.
type record struct {
	Fingerprint string            `json:"fp"`
	Done        bool              `json:"done"`
	At          time.Time         `json:"at"`
	Status      int               `json:"status,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Body        []byte            `json:"body,omitempty"`
}

// replayedHeaders are the response headers a replay repeats.
var replayedHeaders = []string{"Content-Type", "Location"}

// Middleware applies idempotency keys to signed-in POST requests. It must
// run after authentication.
func Middleware(api huma.API, store *kv.Store, now func() time.Time) func(huma.Context, func(huma.Context)) {
	if now == nil {
		now = time.Now
	}
	fail := func(ctx huma.Context, status int, msg string) {
		_ = huma.WriteErr(api, ctx, status, msg)
	}
	return func(ctx huma.Context, next func(huma.Context)) {
		key := ctx.Header(Header)
		pr, signedIn := authn.From(ctx.Context())
		if ctx.Method() != http.MethodPost || key == "" || !signedIn {
			next(ctx)
			return
		}
		if len(key) > 255 {
			fail(ctx, http.StatusBadRequest, "Idempotency-Key must be at most 255 characters")
			return
		}
		body, err := io.ReadAll(ctx.BodyReader())
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(ctx, http.StatusRequestEntityTooLarge, "the request body is too large")
			return
		}
		if err != nil {
			fail(ctx, http.StatusBadRequest, "could not read the request body")
			return
		}
		h := sha256.New()
		h.Write([]byte(ctx.Method() + " " + ctx.URL().Path + "?" + ctx.URL().RawQuery + "\n"))
		h.Write(body)
		fp := hex.EncodeToString(h.Sum(nil))
		id := sha256.Sum256([]byte(pr.UserID + "\x00" + key))
		k := hex.EncodeToString(id[:])
		c := ctx.Context()

		pending, _ := json.Marshal(record{Fingerprint: fp, At: now().UTC()})
		err = store.Create(c, kv.PutParams{Namespace: namespace, Key: k, Value: pending, TTL: TTL})
		if apperr.Is(err, apperr.Conflict) {
			var prev record
			raw, gerr := store.Get(c, namespace, k)
			if gerr == nil && json.Unmarshal(raw, &prev) == nil {
				switch {
				case prev.Fingerprint != fp:
					fail(ctx, http.StatusUnprocessableEntity, "this Idempotency-Key was already used with a different request")
					return
				case prev.Done:
					for name, v := range prev.Headers {
						ctx.SetHeader(name, v)
					}
					ctx.SetHeader("Idempotent-Replayed", "true")
					ctx.SetStatus(prev.Status)
					_, _ = ctx.BodyWriter().Write(prev.Body)
					return
				case now().Sub(prev.At) < abandonAfter:
					ctx.SetHeader("Retry-After", "1")
					fail(ctx, http.StatusConflict, "a request with this Idempotency-Key is still in progress")
					return
				}
			}
			// The first attempt died with its process (or the record is
			// unreadable): this one takes the key over.
			err = store.Put(c, kv.PutParams{Namespace: namespace, Key: k, Value: pending, TTL: TTL})
		}
		if err != nil {
			_ = huma.WriteErr(api, ctx, http.StatusInternalServerError, "", err)
			return
		}

		capture := &capturing{hctx: ctx, body: bytes.NewReader(body), headers: map[string]string{}}
		next(capture)
		// Keep what a retry should see; forget failures worth retrying
		// (5xx, rate limits) and responses streamed past the capture.
		if capture.status == 0 || capture.status >= 500 || capture.status == http.StatusTooManyRequests {
			_ = store.Delete(c, namespace, k)
			return
		}
		done, _ := json.Marshal(record{Fingerprint: fp, Done: true, At: now().UTC(), Status: capture.status, Headers: capture.headers, Body: capture.out.Bytes()})
		_ = store.Put(c, kv.PutParams{Namespace: namespace, Key: k, Value: done, TTL: TTL})
	}
}

// hctx lets capturing embed huma.Context under a name that does not clash
// with its Context method.
type hctx = huma.Context

// capturing passes a response through while keeping a copy of it.
type capturing struct {
	hctx
	body    io.Reader
	status  int
	headers map[string]string
	out     bytes.Buffer
}

func (c *capturing) Unwrap() huma.Context { return c.hctx }

func (c *capturing) BodyReader() io.Reader { return c.body }

func (c *capturing) SetStatus(code int) {
	c.status = code
	c.hctx.SetStatus(code)
}

func (c *capturing) SetHeader(name, value string) {
	for _, h := range replayedHeaders {
		if http.CanonicalHeaderKey(name) == h {
			c.headers[h] = value
		}
	}
	c.hctx.SetHeader(name, value)
}

func (c *capturing) BodyWriter() io.Writer { return io.MultiWriter(c.hctx.BodyWriter(), &c.out) }
