package audit_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/reqmeta"
)

func TestRecordAndList(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		log := audit.New(d)
		ctx := reqmeta.With(context.Background(), reqmeta.Client{IP: "203.0.113.9", UserAgent: "curl/8"})
		for i := range 5 {
			e := audit.Event{Action: "auth.login", ActorID: "u1", SubjectID: "u1", Details: map[string]any{"n": i}}
			if i == 4 {
				e.Outcome, e.ActorID = audit.Failure, ""
			}
			require.NoError(t, log.Record(ctx, e))
		}
		require.NoError(t, log.Record(ctx, audit.Event{Action: "api_key.create", ActorID: "u2", SubjectID: "u2"}))

		page, next, err := log.List(ctx, audit.Filter{Action: "auth.login", Limit: 3})
		require.NoError(t, err)
		require.Len(t, page, 3)
		require.NotEmpty(t, next)
		require.Equal(t, audit.Failure, page[0].Outcome, "newest first")
		require.Equal(t, "203.0.113.9", page[0].IP)
		require.Equal(t, "curl/8", page[0].UserAgent)
		require.EqualValues(t, 4, page[0].Details["n"])

		rest, next, err := log.List(ctx, audit.Filter{Action: "auth.login", Limit: 3, Before: next})
		require.NoError(t, err)
		require.Len(t, rest, 2)
		require.Empty(t, next)
		require.Less(t, rest[0].ID, page[2].ID)

		fails, _, err := log.List(ctx, audit.Filter{Outcome: audit.Failure})
		require.NoError(t, err)
		require.Len(t, fails, 1)
		byActor, _, err := log.List(ctx, audit.Filter{ActorID: "u2"})
		require.NoError(t, err)
		require.Len(t, byActor, 1)
		require.Equal(t, "api_key.create", byActor[0].Action)
	})
}
