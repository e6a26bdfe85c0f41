package idempotency_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
	"github.com/pulse-run/pulse/internal/platform/idempotency"
	"github.com/pulse-run/pulse/internal/platform/kv"
)

type secretOutput struct {
	Body struct {
		Secret string `json:"secret"`
	}
}

// secretRouter serves POST /api/v1/mint, an operation marked as showing a
// secret once, behind the middleware with no vault. The caller is the
// session named by the X-Session header.
func secretRouter(t *testing.T, d *db.DB, minted *atomic.Int32) http.Handler {
	t.Helper()
	r, err := httpx.NewRouter(httpx.RouterParams{Title: "test", Version: "1", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	r.V1.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
		pr := &authn.Principal{UserID: "u1", Role: authn.RoleUser, SessionID: ctx.Header("X-Session")}
		next(huma.WithContext(ctx, authn.With(ctx.Context(), pr)))
	})
	r.V1.UseMiddleware(idempotency.Middleware(r.V1, idempotency.Params{KV: kv.New(d, nil)}))
	httpx.Register(r.V1, huma.Operation{OperationID: "mint", Method: http.MethodPost, Path: "/mint", Metadata: httpx.OneTimeSecret(),
		DefaultStatus: http.StatusCreated},
		func(context.Context, *struct{}) (*secretOutput, error) {
			minted.Add(1)
			raw := make([]byte, 16)
			_, _ = rand.Read(raw)
			out := &secretOutput{}
			out.Body.Secret = "s_" + hex.EncodeToString(raw)
			return out, nil
		})
	return r.Handler
}

// Finding 4 (secrets at rest), without a vault: a response with a one-time
// secret is not kept at all, and its replay answers 409 replay_unavailable
// instead of doing the work again.
func TestFinding4OneTimeSecretWithoutVaultIsNotKept(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		var minted atomic.Int32
		h := secretRouter(t, d, &minted)
		hdr := map[string]string{"Idempotency-Key": "k1", "X-Session": "s1"}
		first := apitest.Scenario{Method: "POST", Path: "/api/v1/mint", Headers: hdr, ExpectedStatus: 201}.Test(t, h)
		secret := gjson.Get(first.Body, "secret").String()
		require.NotEmpty(t, secret)

		var values [][]byte
		require.NoError(t, d.R.NewSelect().Table("pulse_kv").Column("value").Where("namespace = ?", "idempotency").Scan(context.Background(), &values))
		require.Len(t, values, 1)
		require.NotContains(t, string(values[0]), secret)

		apitest.Scenario{Method: "POST", Path: "/api/v1/mint", Headers: hdr, ExpectedStatus: 409, NotExpected: []string{secret},
			ExpectedJSON:    map[string]any{"code": "replay_unavailable"},
			ExpectedHeaders: map[string]string{"Content-Type": "application/problem+json"}}.Test(t, h)
		require.Equal(t, int32(1), minted.Load(), "the replay did not mint again")

		// Another session with the same key is a request of its own.
		apitest.Scenario{Method: "POST", Path: "/api/v1/mint", Headers: map[string]string{"Idempotency-Key": "k1", "X-Session": "s2"},
			ExpectedStatus: 201, NotExpected: []string{secret}}.Test(t, h)
		require.Equal(t, int32(2), minted.Load())
	})
}
