package regexlimit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSize(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]string{
		`(?i)\b(password|secret)\b`:  "",
		`(?:(?:a|b|ab|ba){100})!`:    "",
		`(?:(?:a|b|ab|ba){1000})!`:   "too complex",
		`(unclosed`:                  "not a valid",
		strings.Repeat("a", 501):     "longer than 500",
		`(?:a{30}|b{30}){20}`:        "too complex",
		`[\p{L}\p{N}]{1,30}@example`: "",
	} {
		n, err := Size(p)
		if want == "" {
			require.NoError(t, err, p)
			require.Positive(t, n)
			re, m, err := Compile(p)
			require.NoError(t, err)
			require.Equal(t, n, m)
			require.NotNil(t, re)
			continue
		}
		require.ErrorContains(t, err, want, p)
	}
}
