package run

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/pulse-run/pulse/internal/llm"
)

// The trace outlives the run and is shown to anyone who can read the run,
// so credentials a model passes to a tool (or a tool echoes back) are masked
// there. The model and the tool still see the real values.
const redacted = "[redacted]"

// secretValue matches credentials recognisable by their shape.
var secretValue = regexp.MustCompile(`(?i)\bbearer\s+[a-z0-9._~+/=-]{8,}` +
	`|\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}` +
	`|\bgh[pousr]_[A-Za-z0-9]{30,}` +
	`|\bxox[abprs]-[A-Za-z0-9-]{10,}` +
	`|\bAKIA[0-9A-Z]{16}\b` +
	`|\bAIza[0-9A-Za-z_-]{35}`)

// secretKey reports whether a JSON field name is one that holds a credential.
func secretKey(name string) bool {
	n := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, name)
	for _, s := range []string{"password", "passwd", "secret", "apikey", "privatekey", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	// "token" as a suffix catches access_token and authToken but not max_tokens.
	return strings.HasSuffix(n, "token") || n == "authorization" || n == "cookie" || n == "sessionid"
}

// redactArgs masks secrets in a tool call's JSON arguments. Arguments that
// are not JSON are masked by shape only.
func redactArgs(raw string) string {
	if nothingToMask(raw) && json.Valid([]byte(raw)) {
		return raw
	}
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return redactText(raw)
	}
	out, err := json.Marshal(redactValue(v))
	if err != nil {
		return redactText(raw)
	}
	return string(out)
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			switch x.(type) {
			case map[string]any, []any:
				t[k] = redactValue(x)
			default:
				if secretKey(k) && x != nil && x != "" {
					t[k] = redacted
				} else {
					t[k] = redactValue(x)
				}
			}
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = redactValue(x)
		}
		return t
	case string:
		return redactText(t)
	}
	return v
}

// secretKeyParts are what secretKey looks for in a field name folded to
// lower-case letters and digits ("token" anywhere, a superset of its
// suffix rule).
var secretKeyParts = []string{"password", "passwd", "secret", "apikey", "privatekey", "credential", "token", "authorization", "cookie", "sessionid"}

// nothingToMask is a cheap, conservative test that redactValue would leave
// raw JSON unchanged: no string could match secretValue and no field name
// could be a secretKey. It costs no allocation, where parsing and
// re-encoding every call's arguments cost ten. A backslash sends raw the
// slow way, since an escape (\u0062earer) hides what it decodes to.
func nothingToMask(raw string) bool {
	if strings.IndexByte(raw, '\\') >= 0 || maySecret(raw) {
		return false
	}
	for _, part := range secretKeyParts {
		if containsFolded(raw, part) {
			return false
		}
	}
	return true
}

// containsFolded reports whether part (lower-case ASCII letters) appears in
// s when s is folded the way secretKey folds a name: lower-cased, with
// everything but letters and digits dropped.
func containsFolded(s, part string) bool {
	for i := 0; i < len(s); i++ {
		if lower(s[i]) != part[0] {
			continue
		}
		k := 0
		for j := i; j < len(s) && k < len(part); j++ {
			c := lower(s[j])
			if !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') {
				continue
			}
			if c != part[k] {
				break
			}
			k++
		}
		if k == len(part) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// redactText masks secrets recognisable by shape in free text.
func redactText(s string) string {
	if !maySecret(s) {
		return s
	}
	return secretValue.ReplaceAllString(s, redacted)
}

// secretStarts are the literals one of which every secretValue match
// contains, in lower case.
var secretStarts = []string{"bearer", "sk-", "gh", "xox", "akia", "aiza"}

// maySecret is a cheap test that s could hold a secretValue match: the
// regexp costs microseconds on every tool output, nearly always in vain.
// Text with a non-ASCII byte always goes to the regexp, as (?i) also folds
// U+212A (Kelvin) to k and U+017F (long s) to s.
func maySecret(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	for i := 0; i < len(s); i++ {
		// Only a byte that starts one of the literals is worth comparing
		// at: most bytes are not, and this test runs on every tool output.
		switch lower(s[i]) {
		case 'b', 's', 'g', 'x', 'a':
		default:
			continue
		}
		for _, lit := range secretStarts {
			if hasPrefixFold(s[i:], lit) {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold reports whether ASCII s starts with lower-case lit,
// ignoring case.
func hasPrefixFold(s, lit string) bool {
	if len(s) < len(lit) {
		return false
	}
	for j := 0; j < len(lit); j++ {
		c := s[j]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lit[j] {
			return false
		}
	}
	return true
}

// redactCalls returns copies of calls with their arguments masked (calls
// itself when no argument holds anything to mask).
func redactCalls(calls []llm.ToolCall) []llm.ToolCall {
	clean := len(calls) > 0
	for _, c := range calls {
		if !nothingToMask(string(c.Arguments)) || !json.Valid(c.Arguments) {
			clean = false
			break
		}
	}
	if clean {
		return calls
	}
	out := make([]llm.ToolCall, len(calls))
	for i, c := range calls {
		masked := redactArgs(string(c.Arguments))
		if !json.Valid([]byte(masked)) { // malformed arguments are kept, as a string
			b, _ := json.Marshal(masked)
			masked = string(b)
		}
		c.Arguments = json.RawMessage(masked)
		out[i] = c
	}
	return out
}
