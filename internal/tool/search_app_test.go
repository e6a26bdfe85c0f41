package tool_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// With SEARXNG_URL set, web_search is offered and an agent's run searches
// through that instance; without it the tool is neither listed nor accepted.
func TestWebSearchFromConfiguration(t *testing.T) {
	t.Parallel()
	var queries atomic.Value
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Store(r.URL.Query().Get("q"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"query":"x","results":[{"url":"https://example.com/exam","title":"Exam dates","content":"Finals start June 3."}]}`)
	}))
	defer searx.Close()
	model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "web_search", Arguments: json.RawMessage(`{"query":"finals dates"}`)}),
		llmtest.Say("Finals start June 3."))
	b := apptest.New(t, config.SQLite, map[string]string{"SEARXNG_URL": searx.URL}, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	list := apitest.Scenario{Method: "GET", Path: "/api/v1/tools", ExpectedStatus: 200}.Test(t, b.H)
	require.Equal(t, "object", gjson.Get(list.Body, `items.#(name=="web_search").parameters.type`).String())

	created := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"Researcher","instructions":"Search.","model":"openai/gpt-test","tools":[{"type":"builtin","name":"web_search"}]}`}.Test(t, b.H)
	id := gjson.Get(created.Body, "id").String()
	ran := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + id + "/runs", Auth: u.Token, Body: `{"input":"When are finals?"}`,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
	require.Equal(t, "finals dates", queries.Load())
	// The model was given the result.
	calls := model.Calls()
	require.Len(t, calls, 2)
	last := calls[1].Messages[len(calls[1].Messages)-1]
	require.Equal(t, llm.RoleTool, last.Role)
	require.Contains(t, last.Content, "Finals start June 3.")
	steps := apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + gjson.Get(ran.Body, "id").String() + "/steps", Auth: u.Token, ExpectedStatus: 200}.Test(t, b.H)
	require.Equal(t, "web_search", gjson.Get(steps.Body, `items.#(kind=="tool").name`).String())

	plain := apptest.New(t, config.SQLite, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
	v := plain.NewUser(t)
	list = apitest.Scenario{Method: "GET", Path: "/api/v1/tools", ExpectedStatus: 200}.Test(t, plain.H)
	require.False(t, gjson.Get(list.Body, `items.#(name=="web_search")`).Exists())
	apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: v.Token, ExpectedStatus: 422,
		Body:            `{"name":"Researcher","instructions":"Search.","model":"openai/gpt-test","tools":[{"type":"builtin","name":"web_search"}]}`,
		ExpectedContent: []string{"web_search"}}.Test(t, plain.H)
}
