package httpx_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

func TestPatchTellsAbsentFromNull(t *testing.T) {
	t.Parallel()
	var body struct {
		A httpx.Patch[string] `json:"a"`
		B httpx.Patch[string] `json:"b"`
		C httpx.Patch[int]    `json:"c"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"b":null,"c":7}`), &body))
	require.False(t, body.A.Set)
	require.Equal(t, "old", body.A.Or("old"), "absent keeps the old value")
	require.True(t, body.B.Set)
	require.True(t, body.B.Null)
	require.Empty(t, body.B.Or("old"), "null clears")
	require.Equal(t, 7, body.C.Or(1))
	require.Error(t, json.Unmarshal([]byte(`{"c":"x"}`), &body), "a value of the wrong type is refused")
}
