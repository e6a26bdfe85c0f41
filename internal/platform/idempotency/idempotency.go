// Package idempotency makes POST requests safe to retry: a request sent
// again with the same Idempotency-Key and the same body within 24 hours
// gets the first response back, without doing the work twice; the same key
// with a different request is refused.
//
// Keys belong to one credential (a session or an API key), not to the
// user: a response is only ever replayed to the credential whose request
// produced it, so nothing one credential was shown (a new API key's
// secret) reaches another. Only credentials that may write use keys at
// all (see Middleware). A response that carries a one-time secret
// (httpx.OneTimeSecret) is kept encrypted with the vault, or not kept, in
// which case its replay answers 409 replay_unavailable.
package idempotency

import (
	"bytes"
	"context"
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
	"github.com/pulse-run/pulse/internal/platform/httpx"
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
	Credential  string            `json:"cred"` // whose request made it
	Done        bool              `json:"done"`
	At          time.Time         `json:"at"`
	Status      int               `json:"status,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Body        []byte            `json:"body,omitempty"`
	// Sealed is Body encrypted with the vault, for a response with a
	// one-time secret; Withheld says such a body was not kept at all.
	Sealed   string `json:"sealed,omitempty"`
	Withheld bool   `json:"withheld,omitempty"`
}

// Sealer encrypts kept bodies that carry one-time secrets (the vault).
type Sealer interface {
	Encrypt(plaintext []byte, aad string) (string, error)
	Decrypt(ctx context.Context, ciphertext, aad string) ([]byte, error)
}

// Params configures the middleware.
type Params struct {
	KV *kv.Store
	// Vault encrypts responses with one-time secrets; nil: they are not
	// kept, and their replay answers 409 replay_unavailable.
	Vault Sealer
	Now   func() time.Time // time.Now outside tests
}

// credential names the credential of pr, "" if it has none to key by.
func credential(pr *authn.Principal) string {
	switch {
	case pr.APIKeyID != "":
		return "api_key:" + pr.APIKeyID
	case pr.SessionID != "":
		return "session:" + pr.SessionID
	}
	return ""
}

// replayedHeaders are the response headers a replay repeats.
var replayedHeaders = []string{"Content-Type", "Location"}

// Middleware applies idempotency keys to signed-in POST requests. It must
// run after authentication, which has already refused missing, expired and
// revoked credentials.
//
// It runs before the operation's handler, so it cannot ask the service
// whether the caller may do what the first request did. Two rules make a
// replay safe without that:
//   - records are keyed by credential (session id or API key id), so a
//     replay only ever returns what this same credential's own request was
//     answered, under the same scopes (a key's scopes never change);
//   - a credential without the write scope skips idempotency entirely: its
//     request always reaches the handler, whose service checks the scope,
//     and nothing is recorded for it. Every POST is a write (the few a
//     read-only key may call, such as logout, are harmless to repeat), so a
//     read-only key can never be handed a replayed write response, even
//     one recorded before this rule existed.
func Middleware(api huma.API, p Params) func(huma.Context, func(huma.Context)) {
	store, now := p.KV, p.Now
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
		cred := credential(pr)
		if cred == "" || !pr.Can(authn.ScopeWrite) {
			next(ctx)
			return
		}
		secretOnce := httpx.ShowsSecretOnce(ctx.Operation())
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
		id := sha256.Sum256([]byte(cred + "\x00" + key))
		k := hex.EncodeToString(id[:])
		c := ctx.Context()
		aad := namespace + ":" + k

		pending, _ := json.Marshal(record{Fingerprint: fp, Credential: cred, At: now().UTC()})
		err = store.Create(c, kv.PutParams{Namespace: namespace, Key: k, Value: pending, TTL: TTL})
		if apperr.Is(err, apperr.Conflict) {
			var prev record
			raw, gerr := store.Get(c, namespace, k)
			if gerr == nil && json.Unmarshal(raw, &prev) == nil {
				switch {
				case prev.Fingerprint != fp || prev.Credential != cred:
					// (Another credential cannot reach this record: the
					// key hashes the credential in. Checked anyway.)
					fail(ctx, http.StatusUnprocessableEntity, "this Idempotency-Key was already used with a different request")
					return
				case prev.Done && (prev.Withheld || prev.Sealed != "" && p.Vault == nil):
					_ = huma.WriteErr(api, ctx, http.StatusConflict, "", apperr.New(apperr.ReplayUnavailable,
						"the first response to this Idempotency-Key carried a secret shown once, which is not kept: list the objects to find what it created"))
					return
				case prev.Done:
					body := prev.Body
					if prev.Sealed != "" {
						if body, err = p.Vault.Decrypt(c, prev.Sealed, aad); err != nil {
							_ = huma.WriteErr(api, ctx, http.StatusInternalServerError, "", err)
							return
						}
					}
					for name, v := range prev.Headers {
						ctx.SetHeader(name, v)
					}
					ctx.SetHeader("Idempotent-Replayed", "true")
					ctx.SetStatus(prev.Status)
					_, _ = ctx.BodyWriter().Write(body)
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
		rec := record{Fingerprint: fp, Credential: cred, Done: true, At: now().UTC(), Status: capture.status, Headers: capture.headers, Body: capture.out.Bytes()}
		if secretOnce {
			// Never in the clear at rest: sealed, or not kept.
			rec.Body = nil
			if p.Vault == nil {
				rec.Withheld = true
			} else if rec.Sealed, err = p.Vault.Encrypt(capture.out.Bytes(), aad); err != nil {
				rec.Sealed, rec.Withheld = "", true
			}
		}
		done, _ := json.Marshal(rec)
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
