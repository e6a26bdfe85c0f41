package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
)

func TestCodeThroughWrapping(t *testing.T) {
	t.Parallel()
	base := apperr.Errorf(apperr.NotFound, "agent %s not found", "a1")
	wrapped := fmt.Errorf("loading run: %w", base)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(wrapped))
	require.True(t, apperr.Is(wrapped, apperr.NotFound))
	got, ok := apperr.As(wrapped)
	require.True(t, ok)
	require.Equal(t, "agent a1 not found", got.Message)

	require.Equal(t, apperr.Internal, apperr.CodeOf(errors.New("plain")), "unknown errors are internal")
	require.Equal(t, apperr.Code(""), apperr.CodeOf(nil))
	require.False(t, apperr.Is(nil, apperr.Internal))
}

func TestCauseIsKeptButSeparate(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection refused")
	e := apperr.Wrap(cause, apperr.Unavailable, "model provider unavailable")
	require.ErrorIs(t, e, cause)
	require.Equal(t, "model provider unavailable", e.Message)
	require.Contains(t, e.Error(), "connection refused")

	f := apperr.InvalidField("body.email", "is not an email address")
	require.Equal(t, apperr.Invalid, f.Code)
	require.Equal(t, []apperr.FieldError{{Path: "body.email", Message: "is not an email address"}}, f.Fields)
	require.Equal(t, "invalid: validation failed; body.email is not an email address", f.Error())
}
