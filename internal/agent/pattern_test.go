package agent_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// Finding 10: a 24-character pattern with nested counted repetition
// compiles to thousands of instructions and takes seconds per check. It is
// refused when saved, and so are many patterns that are large together.
func TestFinding10RegexGuardrailIsBoundedAtSave(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		u := b.NewUser(t)
		agentWith := func(guardrails string) string {
			return `{"name":"x","instructions":"y","model":"openai/gpt-4o","guardrails":` + guardrails + `}`
		}
		// 8 patterns of 703 instructions each: each fits, together they
		// exceed the agent's total.
		mid := make([]string, 8)
		for i := range mid {
			mid[i] = `"(?:(?:a|b|ab|ba){100})!"`
		}
		many := fmt.Sprintf(`[{"type":"blocked_patterns","stage":"input","patterns":["(?i)password"]},{"type":"blocked_patterns","stage":"output","patterns":[%s]}]`,
			strings.Join(mid, ","))
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "nested repetition", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           agentWith(`[{"type":"blocked_patterns","stage":"input","patterns":["(?i)secret","(?:(?:a|b|ab|ba){1000})!"]}]`),
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.guardrails[0].patterns[1]"}},
			{Name: "too many instructions in all", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body: agentWith(many), ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.guardrails[1].patterns[5]"}},
			{Name: "ordinary patterns pass", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           agentWith(`[{"type":"blocked_patterns","stage":"input","patterns":["(?i)\\b(password|secret|api[_-]?key)\\b","\\d{3}-\\d{2}-\\d{4}","(?:(?:a|b|ab|ba){20})!"]}]`),
				ExpectedStatus: 201},
		})
	})
}
