// Package webhook checks inbound signed webhook calls: the one place where
// Pulse parses a signature header, compares HMACs, bounds the call's age and
// refuses a replay. Every receiver of signed calls (workflow triggers today;
// calendar push and Stripe later) goes through it, so the rules cannot drift
// apart between features.
//
// The signature header is Stripe-style:
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>
//
// More than one v1 may be sent (a sender rotating its secret); one must
// match. A call is accepted when a v1 matches, t is within Tolerance of the
// server's clock, and the same (receiver, t, signature) was not accepted
// before. Accepted signatures are remembered in the kv store (the main
// database, so every process of a PostgreSQL cluster sees them) for
// twice the tolerance: long enough that the signature is stale by the time
// it is forgotten.
//
// A new receiver:
//
//	rx := webhook.New(webhook.Params{KV: kvStore})
//	// look the receiver up, decrypt its secret, then:
//	acc, err := rx.Accept(ctx, webhook.AcceptParams{
//		Receiver: "calendar_channel:" + channelID, // unique per secret
//		Secret:   secret, Header: r.Header.Get(webhook.HeaderName), Body: body})
//	if err != nil {
//		return err // apperr: unauthenticated (bad signature or stale), webhook_replayed (409)
//	}
//	if err := doTheWork(); err != nil {
//		acc.Release(ctx) // nothing happened: let the sender's retry through
//		return err
//	}
//
// Validate what can be validated without side effects before Accept, so a
// request refused for another reason does not use up its signature.
// A sender whose format differs (Stripe's own header name) keeps this
// format and names the header itself.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/kv"
)

// HeaderName is the header Pulse's own senders and receivers use.
const HeaderName = "Pulse-Signature"

// Tolerance bounds how far a call's timestamp may be from the server's
// clock, either way.
const Tolerance = 5 * time.Minute

// maxHeader bounds the header parsed: real ones are ~80 bytes; a few
// rotated signatures fit easily.
const maxHeader = 4096

// maxSignatures bounds the v1 values compared, so a header cannot make the
// server compute thousands of comparisons.
const maxSignatures = 8

// namespace holds accepted signatures in the kv store.
const namespace = "webhook_replay"

// Errors of the header parser; callers see them as the cause of an
// Unauthenticated error.
var (
	ErrMalformed = errors.New("malformed signature header")
	ErrStale     = errors.New("timestamp outside the tolerance")
	ErrNoMatch   = errors.New("no signature matches")
)

// Header is a parsed signature header.
type Header struct {
	Timestamp int64    // unix seconds
	V1        []string // hex signatures, as sent
}

// ParseHeader reads "t=<unix>,v1=<hex>[,v1=<hex>...]". Unknown keys (v0,
// future schemes) are skipped; exactly one t and at least one v1 are needed.
func ParseHeader(header string) (Header, error) {
	var h Header
	if len(header) > maxHeader {
		return h, ErrMalformed
	}
	seenT := false
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			if seenT {
				return Header{}, ErrMalformed
			}
			sec, err := strconv.ParseInt(v, 10, 64)
			// Only plain positive decimals: "+1", "-1" would sign a
			// different string than the one verified.
			if err != nil || sec <= 0 || v != strconv.FormatInt(sec, 10) {
				return Header{}, ErrMalformed
			}
			h.Timestamp, seenT = sec, true
		case "v1":
			if len(h.V1) < maxSignatures {
				h.V1 = append(h.V1, v)
			}
		}
	}
	if !seenT || len(h.V1) == 0 {
		return Header{}, ErrMalformed
	}
	return h, nil
}

// signature is the hex HMAC of "<t>.<body>".
func signature(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Sign is the header a sender computes for body at time at.
func Sign(secret []byte, at time.Time, body []byte) string {
	ts := at.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + signature(secret, ts, body)
}

// Verify checks header against body and secret at time now, without the
// replay check, and returns the signature that matched. For tests and for
// receivers that verify before they know whether to act; Accept is what
// a receiver calls.
func Verify(secret []byte, header string, body []byte, now time.Time) (string, error) {
	h, err := ParseHeader(header)
	if err != nil {
		return "", err
	}
	at := time.Unix(h.Timestamp, 0)
	if age := now.Sub(at); age > Tolerance || age < -Tolerance {
		return "", ErrStale
	}
	want := []byte(signature(secret, h.Timestamp, body))
	for _, sig := range h.V1 {
		// Constant time in the signature's content: a timing difference
		// must not reveal how many leading bytes were right.
		if hmac.Equal([]byte(sig), want) {
			return sig, nil
		}
	}
	return "", ErrNoMatch
}

// Params configures a Receiver.
type Params struct {
	KV  *kv.Store
	Now func() time.Time // time.Now outside tests
}

// Receiver verifies calls and remembers the ones it accepted.
type Receiver struct {
	kv  *kv.Store
	now func() time.Time
}

// New returns a Receiver storing accepted signatures in p.KV.
func New(p Params) *Receiver {
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Receiver{kv: p.KV, now: p.Now}
}

// AcceptParams is one inbound call.
type AcceptParams struct {
	// Receiver names what the secret belongs to, e.g.
	// "workflow_trigger:<id>". Replays are tracked per receiver.
	Receiver string
	Secret   []byte
	Header   string
	Body     []byte
}

// Accepted is a call accepted once.
type Accepted struct {
	rx  *Receiver
	key string
}

// Release forgets the acceptance, for a receiver that then failed to act
// on the call: the sender's retry of the same signed call may succeed.
func (a *Accepted) Release(ctx context.Context) error {
	return a.rx.kv.Delete(context.WithoutCancel(ctx), namespace, a.key)
}

// Accept verifies the call and claims its signature. A bad, malformed or
// stale signature is apperr.Unauthenticated; a signature already accepted
// for this receiver is apperr.WebhookReplayed. The claim is an
// insert-if-absent in the database, so of two concurrent identical calls,
// on any number of processes, exactly one is accepted.
func (r *Receiver) Accept(ctx context.Context, p AcceptParams) (*Accepted, error) {
	sig, err := Verify(p.Secret, p.Header, p.Body, r.now())
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unauthenticated,
			"the signature does not match: send "+HeaderName+": t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>' under the secret>, within five minutes")
	}
	h, _ := ParseHeader(p.Header)
	sum := sha256.Sum256([]byte(p.Receiver + "\x00" + strconv.FormatInt(h.Timestamp, 10) + "\x00" + sig))
	key := hex.EncodeToString(sum[:])
	// Kept until the signature is stale for certain: t may be up to
	// Tolerance ahead of now, and stays acceptable Tolerance after t.
	err = r.kv.Create(ctx, kv.PutParams{Namespace: namespace, Key: key, Value: []byte(p.Receiver), TTL: 2*Tolerance + time.Minute})
	if apperr.Is(err, apperr.Conflict) {
		return nil, apperr.New(apperr.WebhookReplayed, "this signed call was already accepted: sign each delivery anew (a new timestamp)")
	}
	if err != nil {
		return nil, err
	}
	return &Accepted{rx: r, key: key}, nil
}
