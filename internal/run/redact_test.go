package run

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/llm/llmtest"
)

func TestRedactArgs(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"secret fields", `{"user":"ann","password":"hunter22","api_key":"abc","max_tokens":5,"pin_secret":1234}`,
			`{"api_key":"[redacted]","max_tokens":5,"password":"[redacted]","pin_secret":"[redacted]","user":"ann"}`},
		{"nested and camelCase", `{"auth":{"accessToken":"x1","headers":[{"Authorization":"Basic Zm9v"}]}}`,
			`{"auth":{"accessToken":"[redacted]","headers":[{"Authorization":"[redacted]"}]}}`},
		{"by shape", `{"note":"use sk-proj-ABCDEFGHIJKLMNOPQRST now","q":"weather"}`,
			`{"note":"use [redacted] now","q":"weather"}`},
		{"empty secrets stay empty", `{"password":"","token":null}`, `{"password":"","token":null}`},
		{"not JSON", `{"token": "Bearer abcdefghijkl`, `{"token": "[redacted]`},
		{"nothing to hide", `{"city":"Paris","tokens_used":3}`, `{"city":"Paris","tokens_used":3}`},
		{"nothing to hide, kept as sent", `{"q": "weather", "city":"Paris"}`, `{"q": "weather", "city":"Paris"}`},
		{"a secret behind an escape", `{"note":"\u0062earer abcdefghijkl"}`, `{"note":"[redacted]"}`},
		{"a secret key behind an escape", `{"pass\u0077ord":"hunter22"}`, `{"password":"[redacted]"}`},
		{"a secret key with separators", `{"API-Key":"abc"}`, `{"API-Key":"[redacted]"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, redactArgs(tc.in))
		})
	}
}

// FuzzNothingToMask checks the cheap test in front of the parse: whenever it
// lets arguments through unchanged, the full masking would not have
// changed them either.
func FuzzNothingToMask(f *testing.F) {
	for _, s := range []string{`{"city":"Paris"}`, `{"password":"x"}`, `{"a":{"b":["Bearer abcdefghij"]}}`, `{"n":"\u0062earer abcdefghij"}`,
		`{"Access-Token":"t"}`, `[1,2,{"x":null}]`, `"sk-abcdefghijklmnopqrstu"`, `{"k\u00e9y":"v"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !nothingToMask(raw) {
			return
		}
		var v, want any
		if json.Unmarshal([]byte(raw), &v) != nil {
			return
		}
		require.NoError(t, json.Unmarshal([]byte(raw), &want))
		require.Equal(t, want, redactValue(v), raw)
	})
}

// The conversation keeps the real credential; the stored trace never does.
// TestRedactTextPrefilterKeepsEveryMatch checks that the cheap test in
// front of the regexp never lets through text the regexp would mask.
func TestRedactTextPrefilterKeepsEveryMatch(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"Authorization: BEARER abcdefgh1234", "bearer\tabcdefgh1234", "key SK-ANT-abcdefghijklmnopqrst",
		"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "GHS_abcdefghijklmnopqrstuvwxyz0123456789",
		"xoxb-1234567890-abc", "XOXP-1234567890-abc", "AKIAABCDEFGHIJKLMNOP", "akiaabcdefghijklmnop",
		"AIzaSyA1234567890abcdefghijklmnopqrstu", "aizaSyA1234567890abcdefghijklmnopqrstu",
		"\u212a: s\u212a-0123456789abcdefXYZ", "s\u212a-0123456789abcdefXYZ", "\u017fk-0123456789abcdefXYZ",
		"2026-12-01T21:50:00Z", "nothing here", "",
	} {
		require.Equal(t, secretValue.ReplaceAllString(in, redacted), redactText(in), in)
	}
	// (?i) folds the Kelvin sign to k: the non-ASCII path is needed.
	require.Equal(t, "[redacted]", redactText("s\u212a-0123456789abcdefXYZ"))
}

func TestTraceRedactsSecrets(t *testing.T) {
	t.Parallel()
	const secret = "sk-live-0123456789abcdefghij"
	b := setupLoop(t, llmtest.Call(call("c1", "current_time", `{"timezone":"UTC","password":"`+secret+`"}`)), llmtest.Say("Done."))
	out := b.run(t, spec())
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	var history strings.Builder
	for _, m := range b.model.Calls()[1].Messages {
		for _, c := range m.ToolCalls {
			history.Write(c.Arguments)
		}
	}
	require.Contains(t, history.String(), secret, "the model's conversation is not altered")
	require.Len(t, b.rec.steps, 3)
	for _, st := range b.rec.steps {
		trace := string(st.Input) + string(st.Output) + st.Error
		require.NotContains(t, trace, secret, st.Kind)
	}
	require.Contains(t, string(b.rec.steps[0].Output), `"password":"[redacted]"`, "the model step's tool call")
	require.Contains(t, string(b.rec.steps[1].Input), `\"password\":\"[redacted]\"`, "the tool step's arguments")
}
