package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/webhook"
)

// fakeClock is advanced by tests so expiry needs no sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type testBundle struct {
	rx    *webhook.Receiver
	clock *fakeClock
}

func setup(t *testing.T, d *db.DB) *testBundle {
	t.Helper()
	c := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	return &testBundle{rx: webhook.New(webhook.Params{KV: kv.New(d, c.Now), Now: c.Now}), clock: c}
}

var secret = []byte("whsec_test")

func TestParseHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   webhook.Header
		err    bool
	}{
		{header: "t=1700000000,v1=abc", want: webhook.Header{Timestamp: 1700000000, V1: []string{"abc"}}},
		{header: " t=1700000000 , v1=abc, v1=def ,v0=old", want: webhook.Header{Timestamp: 1700000000, V1: []string{"abc", "def"}}},
		{header: "v1=abc,t=1700000000,junk", want: webhook.Header{Timestamp: 1700000000, V1: []string{"abc"}}},
		{header: "", err: true},
		{header: "t=1700000000", err: true},
		{header: "v1=abc", err: true},
		{header: "t=,v1=abc", err: true},
		{header: "t=+1700000000,v1=abc", err: true},
		{header: "t=01700000000,v1=abc", err: true},
		{header: "t=-5,v1=abc", err: true},
		{header: "t=0,v1=abc", err: true},
		{header: "t=99999999999999999999,v1=abc", err: true},
		{header: "t=1,t=2,v1=abc", err: true},
		{header: "t=1700000000,v1=" + strings.Repeat("a", 5000), err: true},
	} {
		got, err := webhook.ParseHeader(tc.header)
		if tc.err {
			require.ErrorIs(t, err, webhook.ErrMalformed, "%q", tc.header)
			continue
		}
		require.NoError(t, err, "%q", tc.header)
		require.Equal(t, tc.want, got, "%q", tc.header)
	}
	many := "t=1700000000" + strings.Repeat(",v1=ab", 100)
	h, err := webhook.ParseHeader(many)
	require.NoError(t, err)
	require.Len(t, h.V1, 8, "signatures compared are bounded")
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)
	good := webhook.Sign(secret, now, body)
	_, err := webhook.Verify(secret, good, body, now)
	require.NoError(t, err)
	_, err = webhook.Verify(secret, good, body, now.Add(webhook.Tolerance))
	require.NoError(t, err, "the tolerance's edge is inside")
	_, err = webhook.Verify(secret, good, body, now.Add(webhook.Tolerance+time.Second))
	require.ErrorIs(t, err, webhook.ErrStale)
	_, err = webhook.Verify(secret, good, body, now.Add(-webhook.Tolerance-time.Second))
	require.ErrorIs(t, err, webhook.ErrStale, "a call from the future is refused too")
	_, err = webhook.Verify(secret, good, []byte(`{"a":2}`), now)
	require.ErrorIs(t, err, webhook.ErrNoMatch)
	_, err = webhook.Verify([]byte("other"), good, body, now)
	require.ErrorIs(t, err, webhook.ErrNoMatch)
	_, err = webhook.Verify(secret, strings.ToUpper(good), body, now)
	require.Error(t, err)
	rotated := webhook.Sign([]byte("old"), now, body) + "," + strings.SplitN(good, ",", 2)[1]
	_, err = webhook.Verify(secret, rotated, body, now)
	require.NoError(t, err, "one of several v1 matching is enough")
}

func TestAccept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Run("OnceThenReplayed", func(t *testing.T) {
			b := setup(t, d)
			body := []byte(`{"x":1}`)
			p := webhook.AcceptParams{Receiver: "test:once", Secret: secret, Header: webhook.Sign(secret, b.clock.Now(), body), Body: body}
			_, err := b.rx.Accept(ctx, p)
			require.NoError(t, err)
			_, err = b.rx.Accept(ctx, p)
			require.Equal(t, apperr.WebhookReplayed, apperr.CodeOf(err), "%v", err)

			// Padding the header with junk does not make it a new call.
			padded := p
			padded.Header += ",v1=00,x=y"
			_, err = b.rx.Accept(ctx, padded)
			require.Equal(t, apperr.WebhookReplayed, apperr.CodeOf(err), "%v", err)

			// Still refused near the end of the window, then stale.
			b.clock.Advance(webhook.Tolerance)
			_, err = b.rx.Accept(ctx, p)
			require.Equal(t, apperr.WebhookReplayed, apperr.CodeOf(err), "%v", err)
			b.clock.Advance(time.Second)
			_, err = b.rx.Accept(ctx, p)
			require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err), "%v", err)

			// Another receiver with the same secret and signature is separate.
			other := p
			other.Receiver = "test:other"
			other.Header = webhook.Sign(secret, b.clock.Now(), body)
			_, err = b.rx.Accept(ctx, other)
			require.NoError(t, err)
			p.Header = other.Header
			_, err = b.rx.Accept(ctx, p)
			require.NoError(t, err)
		})
		t.Run("FutureTimestampStaysRefusedUntilStale", func(t *testing.T) {
			b := setup(t, d)
			body := []byte(`{}`)
			p := webhook.AcceptParams{Receiver: "test:future", Secret: secret, Header: webhook.Sign(secret, b.clock.Now().Add(webhook.Tolerance), body), Body: body}
			_, err := b.rx.Accept(ctx, p)
			require.NoError(t, err)
			// The claim outlives every moment at which the signature is valid.
			for _, step := range []time.Duration{time.Minute, 4 * time.Minute, 4*time.Minute + 59*time.Second} {
				b.clock.Advance(step)
				_, err = b.rx.Accept(ctx, p)
				require.Equal(t, apperr.WebhookReplayed, apperr.CodeOf(err), "after %v: %v", step, err)
			}
		})
		t.Run("BadSignatureClaimsNothing", func(t *testing.T) {
			b := setup(t, d)
			body := []byte(`{}`)
			p := webhook.AcceptParams{Receiver: "test:bad", Secret: secret, Header: webhook.Sign([]byte("wrong"), b.clock.Now(), body), Body: body}
			_, err := b.rx.Accept(ctx, p)
			require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))
			p.Header = "garbage"
			_, err = b.rx.Accept(ctx, p)
			require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))
			p.Header = webhook.Sign(secret, b.clock.Now(), body)
			_, err = b.rx.Accept(ctx, p)
			require.NoError(t, err)
		})
		t.Run("ReleaseLetsARetryThrough", func(t *testing.T) {
			b := setup(t, d)
			body := []byte(`{}`)
			p := webhook.AcceptParams{Receiver: "test:release", Secret: secret, Header: webhook.Sign(secret, b.clock.Now(), body), Body: body}
			acc, err := b.rx.Accept(ctx, p)
			require.NoError(t, err)
			require.NoError(t, acc.Release(ctx))
			_, err = b.rx.Accept(ctx, p)
			require.NoError(t, err)
		})
		t.Run("ConcurrentIdenticalCallsOneAccepted", func(t *testing.T) {
			b := setup(t, d)
			for round := range 3 {
				body := []byte(fmt.Sprintf(`{"round":%d}`, round))
				p := webhook.AcceptParams{Receiver: "test:race", Secret: secret, Header: webhook.Sign(secret, b.clock.Now(), body), Body: body}
				const n = 12
				errs := make(chan error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, err := b.rx.Accept(ctx, p)
						errs <- err
					}()
				}
				close(start)
				wg.Wait()
				close(errs)
				accepted := 0
				for err := range errs {
					if err == nil {
						accepted++
						continue
					}
					require.Equal(t, apperr.WebhookReplayed, apperr.CodeOf(err), "%v", err)
				}
				require.Equal(t, 1, accepted, "round %d", round)
			}
		})
	})
}
