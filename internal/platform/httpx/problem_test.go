package httpx

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
)

// A code without a status would silently become a 500.
func TestEveryAppErrorCodeHasAStatus(t *testing.T) {
	t.Parallel()
	for _, c := range apperr.Codes {
		_, ok := statusOf[c]
		require.True(t, ok, "apperr code %q has no HTTP status", c)
	}
}
