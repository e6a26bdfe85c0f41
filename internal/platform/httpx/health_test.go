package httpx

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckStatesNeverShowDriverText(t *testing.T) {
	t.Parallel()
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name  string
		check Check
		ctx   context.Context
		err   error
		want  string
	}{
		{"healthy", Check{}, context.Background(), nil, StateOK},
		{"chosen words", Check{Down: "unreachable"}, context.Background(), fmt.Errorf("wrapped: %w", Unready("3 migrations pending")), "3 migrations pending"},
		{"driver error", Check{Down: "unreachable"}, context.Background(), errors.New("dial tcp 10.0.0.7:5432: password authentication failed for user pulse"), "unreachable"},
		{"driver error, no words", Check{}, context.Background(), errors.New("pq: role secret does not exist"), StateFailing},
		{"timeout", Check{Down: "unreachable"}, context.Background(), fmt.Errorf("ping: %w", context.DeadlineExceeded), StateTimeout},
		{"probe gave up", Check{Down: "unreachable"}, expired, errors.New("read tcp 10.0.0.7:5432: i/o timeout"), StateTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.check.state(tc.ctx, tc.err))
		})
	}
}
