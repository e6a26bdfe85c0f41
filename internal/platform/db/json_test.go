package db_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/db"
)

func TestJSONColumn(t *testing.T) {
	t.Parallel()
	v, err := db.JSON[[]string]{}.Value()
	require.NoError(t, err)
	require.Equal(t, "[]", v, "a nil list is stored as []")
	v, err = db.JSON[[]string]{V: []string{"a"}}.Value()
	require.NoError(t, err)
	require.Equal(t, `["a"]`, v)

	var j db.JSON[map[string]int]
	require.NoError(t, j.Scan([]byte(`{"x":1}`)))
	require.Equal(t, map[string]int{"x": 1}, j.V)
	require.NoError(t, j.Scan(nil))
	require.Nil(t, j.V)
	require.Error(t, j.Scan(42))
}
