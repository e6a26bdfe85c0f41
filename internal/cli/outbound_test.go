package cli_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFinding1ZonedIPv6IsRefused is issue 13's finding 1, run against a
// real `pulse serve`: a workflow http node aimed at http://[::%25lo]:PORT/
// or http://[::%251]:PORT/ reached a service listening only on [::1]
// (netip.Prefix.Contains is false for zoned addresses and IsGlobalUnicast
// true). Saved literally, such a URL is now refused at its field; computed
// at run time, it is refused when dialled and the service gets no hit.
func TestFinding1ZonedIPv6IsRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	var hits atomic.Int32
	svc := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, `{"secret":"inside"}`)
	})}}
	svc.Start()
	defer svc.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// The service is up: reached directly, it answers.
	res, err := http.Get(fmt.Sprintf("http://[::1]:%d/", port))
	require.NoError(t, err)
	res.Body.Close()
	require.EqualValues(t, 1, hits.Load())

	env := map[string]string{"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(),
		"PULSE_SECRET_KEY": "finding1-test-secret-0123456789abcdef"}
	c := startChild(t, t.TempDir(), env, "serve")
	c.drain()
	a := signUp(t, c.base)
	hosts := []string{"[::%25lo]", "[::%251]"}

	for _, host := range hosts {
		var problem struct {
			Errors []struct{ Location, Message string }
		}
		status := a.do("POST", "/api/v1/workflows", fmt.Sprintf(`{"name":"ssrf","definition":{"entry":"h","nodes":[
		  {"id":"h","type":"http","url":"http://%s:%d/","output_key":"r"}]}}`, host, port), &problem)
		require.Equal(t, http.StatusUnprocessableEntity, status, host)
		require.Len(t, problem.Errors, 1)
		require.Equal(t, "body.definition.nodes[0].url", problem.Errors[0].Location)
		require.Contains(t, problem.Errors[0].Message, "public address")
	}

	var wf struct{ ID string }
	require.Equal(t, http.StatusCreated, a.do("POST", "/api/v1/workflows", fmt.Sprintf(`{"name":"ssrf","definition":{"entry":"h","nodes":[
	  {"id":"h","type":"http","url":"http://{{ state.host }}:%d/","output_key":"r"}]}}`, port), &wf))
	for _, host := range hosts {
		var run struct {
			Status string
			Error  struct{ Code, Message, Node string }
		}
		require.Equal(t, http.StatusOK, a.do("POST", "/api/v1/workflows/"+wf.ID+"/runs", `{"input":{"host":"`+host+`"}}`, &run), host)
		require.Equal(t, "failed", run.Status, host)
		require.Equal(t, "h", run.Error.Node)
		require.Contains(t, run.Error.Message, "address is not public", host)
		require.False(t, strings.Contains(run.Error.Message, "::1"), run.Error.Message)
	}
	require.EqualValues(t, 1, hits.Load(), "the service only on [::1] was reached through a zoned address")
}
