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

func TestMissingFieldsArePointedAt(t *testing.T) {
	t.Parallel()
	require.Equal(t, FieldError{Location: "body.email", Message: "is required"}, fieldError("body", "expected required property email to be present"))
	require.Equal(t, FieldError{Location: "body.items[0].name", Message: "is required"}, fieldError("body.items[0]", "expected required property name to be present"))
	require.Equal(t, FieldError{Location: "body.name", Message: "expected length >= 1"}, fieldError("body.name", "expected length >= 1"))
}
